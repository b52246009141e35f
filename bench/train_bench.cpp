// Training throughput: one full forward+backward+AdamW step of a ~20M-parameter Qwen2-shaped model
// (random init), reported as tokens/s and as the fraction of the fp32 FMA peak, measured in the same run
// (BM_FmaPeak: independent 512-bit FMAs on every thread; 256-bit on AVX2-only CPUs). FLOPs per token:
// 6 x params (the matmuls' forward and backward; attention's own products are not counted).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdlib>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops_backward.h"
#include "devops_model/model/random_init.h"
#include "devops_model/train/optimizer.h"
#include "devops_model/train/train_model.h"

namespace dm {
namespace {

// GFLOP/s of `iters` rounds of 16 independent vector FMAs on one thread.
__attribute__((target("avx512f"))) double fma_rounds_avx512(int64_t iters) {
  __m512 acc[16];
  const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t k = 0; k < iters; ++k)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
  float out[16], s = 0;  // (GCC 12 warns inside _mm512_reduce_add_ps)
  for (int i = 0; i < 16; ++i) {
    _mm512_storeu_ps(out, acc[i]);
    for (float f : out) s += f;
  }
  return s;
}
__attribute__((target("avx2,fma"))) double fma_rounds_avx2(int64_t iters) {
  __m256 acc[12];
  const __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (int64_t k = 0; k < iters; ++k)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], b, c);
  float out[8], s = 0;
  for (int i = 0; i < 12; ++i) {
    _mm256_storeu_ps(out, acc[i]);
    for (float f : out) s += f;
  }
  return s;
}

// The fp32 FMA peak of `threads` threads, GFLOP/s (about 0.2 s).
double measured_fma_peak(int threads) {
  const bool wide = best_isa() >= Isa::kAvx512;
  const int64_t iters = 20'000'000;
  const double flops_per_thread = static_cast<double>(iters) * (wide ? 16 * 16 : 12 * 8) * 2;
  const auto t0 = std::chrono::steady_clock::now();
  double sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += wide ? fma_rounds_avx512(iters) : fma_rounds_avx2(iters);
  benchmark::DoNotOptimize(sink);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return threads * flops_per_thread / s / 1e9;
}

void BM_FmaPeak(benchmark::State& st) {
  double g = 0;
  for (auto _ : st) g = measured_fma_peak(static_cast<int>(st.range(0)));
  st.counters["GFLOP/s"] = g;
}
BENCHMARK(BM_FmaPeak)->Arg(2)->Iterations(3)->UseRealTime();

ModelConfig bench_config() {
  ModelConfig c;
  c.hidden_size = 512, c.num_layers = 6, c.num_heads = 8, c.num_kv_heads = 2, c.head_dim = 64;
  c.rotary_dim = 64, c.intermediate_size = 1408, c.vocab_size = 8192, c.max_position_embeddings = 1024;
  c.rope_theta = 1e6, c.qkv_bias = true, c.tie_embeddings = true;
  return c;
}

void BM_TrainStep(benchmark::State& st) {
  set_num_threads(static_cast<int>(st.range(0)));
  const int64_t B = 4, T = 256;
  auto m = random_model(bench_config(), 1);
  TrainModel tm(m->config(), m->weights());
  tm.set_bf16(st.range(1) != 0);
  int64_t params = 0;
  for (Param& p : tm.base_params()) params += p.numel();
  std::vector<int32_t> ids(B * T);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 2654435761u) % 8192);
  AdamW opt(AdamWConfig{1e-4, 0.9, 0.95, 1e-8, 0.1});
  auto step = [&] {
    tm.zero_grad();
    benchmark::DoNotOptimize(tm.forward_backward(ids.data(), ids.data(), B, T));
    clip_grad_norm(tm.trainable(), 1.0);
    opt.step(tm.trainable(), 1e-4);
  };
  step();  // untimed: the first step allocates the AdamW moments and the working buffers (steady state after)
  for (auto _ : st) step();
  st.counters["params_M"] = static_cast<double>(params) / 1e6;
  st.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(6.0 * static_cast<double>(params) * B * T / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  st.counters["peak_GFLOP/s"] = measured_fma_peak(static_cast<int>(st.range(0)));
  set_num_threads(0);
}
// Args: threads, bf16 (0: fp32; 1: --bf16's mixed precision, whose ceiling is twice the fp32 FMA peak on
// AVX512-BF16 CPUs: vdpbf16ps does two multiply-adds per lane).
BENCHMARK(BM_TrainStep)->Args({2, 0})->Args({2, 1})->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// The training GEMM (gemm_acc) in linear_backward's two products, 2 threads, BM_TrainStep's MLP shape:
// N = B*T = 1024 rows, K = 512, M = 1408. First arg 0: dx (N,K) += dy (N,M) W (M,K); 1: dW (M,K) += dy^T x.
// Second arg: 0 f32, 1 bf16 operands (gemm_acc_bf16).
void BM_LinearBackward(benchmark::State& st) {
  set_num_threads(2);
  const int64_t N = 1024, K = 512, M = 1408;
  std::vector<float> dy(static_cast<size_t>(N * M)), x(static_cast<size_t>(N * K)), w(static_cast<size_t>(M * K));
  for (size_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>(i % 17) * 0.01f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) * 0.01f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 11) * 0.01f;
  std::vector<float> dx(x.size()), dw(w.size());
  for (auto _ : st) {
    const GemmPrecision p = st.range(1) ? GemmPrecision::kBF16 : GemmPrecision::kF32;
    if (st.range(0) == 0) linear_backward(dy.data(), x.data(), w.data(), N, K, M, dx.data(), nullptr, nullptr, p);
    else linear_backward(dy.data(), x.data(), w.data(), N, K, M, nullptr, dw.data(), nullptr, p);
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(N * K * M) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  set_num_threads(0);
}
BENCHMARK(BM_LinearBackward)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace dm
