// Matmul kernels per ISA and weight dtype, on the shapes of Qwen2.5-0.5B (K=896 -> N=4864 MLP up,
// N=151936 lm_head) for decode (T=1) and prefill (T=128); ggml block types on the down projection. Reports FLOP/s and,
// for decode, weight bytes/s (the memory-bound ceiling); compare against the scalar ISA run in the same process.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "devops_model/core/threads.h"
#include "kernels/matmul_isa.h"
#include "kernels/quantized_acts.h"

namespace dm {
namespace {

void BM_Matmul(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  const DType wt = static_cast<DType>(state.range(1));
  const int64_t T = state.range(2), N = state.range(3), K = state.range(4);
  if (static_cast<int>(isa) > static_cast<int>(best_isa())) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(static_cast<size_t>(T * K)), y(static_cast<size_t>(T * N));
  for (auto& v : x) v = u(rng);
  std::vector<uint8_t> w(dtype_bytes(wt, N * K), 0x3c);
  TensorView wv{wt, {N, K}, w.data()};
  Isa saved = active_isa();
  set_active_isa(isa);
  for (auto _ : state) {
    matmul(x.data(), T, wv, TensorView{}, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_active_isa(saved);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * T * N * K, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_B/s"] =
      benchmark::Counter(static_cast<double>(w.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(isa_name(isa)) + " " + dtype_name(wt) + " threads=" + std::to_string(num_threads()));
}

void shapes(benchmark::internal::Benchmark* b) {
  for (int isa : {0, 1, 2})
    for (int wt : {static_cast<int>(DType::kF32), static_cast<int>(DType::kBF16), static_cast<int>(DType::kQ8_0)}) {
      b->Args({isa, wt, 1, 4864, 896});    // decode, MLP up
      b->Args({isa, wt, 128, 4864, 896});  // prefill, MLP up
    }
  // AVX-512's packed GEMM (use_packed_gemm: x past 512 KiB, 1 MiB for 16-bit weights): a long prompt, and the
  // MLP's down projection.
  for (int wt : {static_cast<int>(DType::kF32), static_cast<int>(DType::kBF16), static_cast<int>(DType::kF16)}) {
    b->Args({2, wt, 512, 4864, 896});
    b->Args({2, wt, 128, 896, 4864});
  }
  b->Args({2, static_cast<int>(DType::kBF16), 1, 151936, 896});  // decode, lm_head
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Matmul)->Apply(shapes);

// BF16 weights with --bf16-activations (vdpbf16ps on AVX512-BF16; skipped elsewhere), against BM_Matmul's
// exact f32 product of the same shapes: prefill of 128 and 512 tokens on the MLP up projection, 128 on down.
void BM_MatmulBf16Activations(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512bf16") || best_isa() != Isa::kAvx512Vnni) {
    state.SkipWithError("this CPU has no AVX512-BF16");
    return;
  }
  set_bf16_activations(true);
  BM_Matmul(state);
  set_bf16_activations(false);
}

BENCHMARK(BM_MatmulBf16Activations)
    ->Args({3, static_cast<int>(DType::kBF16), 128, 4864, 896})
    ->Args({3, static_cast<int>(DType::kBF16), 512, 4864, 896})
    ->Args({3, static_cast<int>(DType::kBF16), 128, 896, 4864})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// ggml block types (GGUF weights) on Qwen2.5-0.5B's MLP down projection, N=896, K=4864 (19 super-blocks of
// 256 a row): decode (T=1, read weight_B/s) and prefill (T=64, read FLOP/s), per SIMD ISA (3 = AVX-512 VNNI: the
// integer path with quantized activations; its FLOP/s count each multiply-add as 2, as for f32).
void BM_MatmulBlock(benchmark::State& state) { BM_Matmul(state); }

void block_shapes(benchmark::internal::Benchmark* b) {
  for (int isa : {1, 2, 3})
    for (int wt = static_cast<int>(DType::kQ8_0); wt <= static_cast<int>(DType::kQ6_K); ++wt) {
      b->Args({isa, wt, 1, 896, 4864});
      b->Args({isa, wt, 64, 896, 4864});
      if (isa == 3) b->Args({isa, wt, 512, 896, 4864});
      if (isa == 3) b->Args({isa, wt, 32, 8192, 256});
    }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_MatmulBlock)->Apply(block_shapes);

// Rounding one token's activations to 8-bit blocks (the integer path's input), scalar twin vs AVX-512, on
// Qwen2.5-0.5B's MLP width (K=4864); input_B/s is f32 read.
void BM_QuantizeToken(benchmark::State& state) {
  const bool simd = state.range(0) != 0;
  if (simd && best_isa() != Isa::kAvx512Vnni) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const int64_t K = 4864;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-3, 3);
  std::vector<float> x(static_cast<size_t>(K)), d(static_cast<size_t>(K / 32));
  std::vector<int8_t> q(static_cast<size_t>(K));
  for (auto& v : x) v = u(rng);
  for (auto _ : state) {
    (simd ? kernels::quantize_token_avx512 : kernels::quantize_token_scalar)(x.data(), K, q.data(), d.data());
    benchmark::DoNotOptimize(q.data());
  }
  state.counters["input_B/s"] = benchmark::Counter(4.0 * K, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(simd ? "avx512" : "scalar");
}

BENCHMARK(BM_QuantizeToken)->Arg(0)->Arg(1);

}  // namespace
}  // namespace dm
