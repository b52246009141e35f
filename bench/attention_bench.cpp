// Attention per ISA (scalar twin vs AVX-512 inner loops) on Qwen2.5-0.5B's heads (14 query heads, 2 kv heads,
// head_dim 64): a 512-token causal prefill and one decode step against a 2048-token cache. FLOP/s count the
// two products per query-key pair (q.k and p*v), 4 * D each.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "devops_model/kernels/ops.h"
#include "kernels/matmul_isa.h"

namespace dm {
namespace {

void BM_Attention(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  const int64_t T = state.range(1), pos0 = state.range(2), H = 14, KV = 2, D = 64;
  if (static_cast<int>(isa) > static_cast<int>(best_isa())) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> q(static_cast<size_t>(T * H * D)), k(static_cast<size_t>((pos0 + T) * KV * D)), v(k.size());
  std::vector<float> out(q.size());
  for (auto* vec : {&q, &k, &v})
    for (auto& x : *vec) x = u(rng);
  const Isa saved = active_isa();
  set_active_isa(isa);
  for (auto _ : state) {
    attention(q.data(), T, H, KV, D, k.data(), v.data(), KV * D, pos0, 1.0f / std::sqrt(64.0f), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  set_active_isa(saved);
  double pairs = 0;  // query-key pairs: query t sees pos0 + t + 1 keys
  for (int64_t t = 0; t < T; ++t) pairs += static_cast<double>(pos0 + t + 1);
  state.counters["FLOP/s"] = benchmark::Counter(4.0 * D * H * pairs, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(isa_name(isa));
}

BENCHMARK(BM_Attention)
    ->Args({0, 512, 0})
    ->Args({2, 512, 0})
    ->Args({0, 1, 2048})
    ->Args({2, 1, 2048})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace dm
