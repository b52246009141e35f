// SwiGLU forward per ISA (the std::exp twin vs AVX-512's polynomial exp) over one 512-token prompt's MLP
// activations on Qwen2.5-0.5B (512 x 4864), single-threaded; elements/s and input bytes/s (gate and up).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "devops_model/kernels/matmul.h"
#include "kernels/forward_exp_isa.h"

namespace dm {
namespace {

void BM_SwigluForward(benchmark::State& state) {
  const bool simd = state.range(0) != 0;
  if (simd && best_isa() < Isa::kAvx512) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const int64_t n = 512 * 4864;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-6, 6);
  std::vector<float> gate(static_cast<size_t>(n)), up(gate.size()), out(gate.size());
  for (auto& v : gate) v = u(rng);
  for (auto& v : up) v = u(rng);
  for (auto _ : state) {
    (simd ? kernels::swiglu_avx512 : kernels::swiglu_scalar)(gate.data(), up.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["elements/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["input_B/s"] = benchmark::Counter(8.0 * n, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(simd ? "avx512" : "scalar");
}

BENCHMARK(BM_SwigluForward)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dm
