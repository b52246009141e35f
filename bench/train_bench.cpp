// Training throughput: one full forward+backward+AdamW step of a ~20M-parameter Qwen2-shaped model
// (random init), reported as tokens/s and as the fraction of the fp32 FMA peak. The peak is
// threads x 2 FMA units x 16 floats (AVX-512) x 2 FLOPs x GHz; pass the clock via DM_BENCH_GHZ
// (default 2.0, see docs/ARCHITECTURE.md for how it was measured). FLOPs per token ~ 6 x params.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/ops_backward.h"
#include "devops_model/model/random_init.h"
#include "devops_model/train/optimizer.h"
#include "devops_model/train/train_model.h"

namespace dm {
namespace {

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
  int64_t params = 0;
  for (Param& p : tm.base_params()) params += p.numel();
  std::vector<int32_t> ids(B * T);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 2654435761u) % 8192);
  AdamW opt(AdamWConfig{1e-4, 0.9, 0.95, 1e-8, 0.1});
  for (auto _ : st) {
    tm.zero_grad();
    benchmark::DoNotOptimize(tm.forward_backward(ids.data(), ids.data(), B, T));
    clip_grad_norm(tm.trainable(), 1.0);
    opt.step(tm.trainable(), 1e-4);
  }
  const double ghz = std::getenv("DM_BENCH_GHZ") ? std::atof(std::getenv("DM_BENCH_GHZ")) : 2.0;
  const double peak = static_cast<double>(st.range(0)) * 2 * 16 * 2 * ghz * 1e9;
  st.counters["params_M"] = static_cast<double>(params) / 1e6;
  st.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(6.0 * static_cast<double>(params) * B * T / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  st.counters["peak_GFLOP/s"] = peak / 1e9;
  set_num_threads(0);
}
BENCHMARK(BM_TrainStep)->Arg(2)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// The training GEMM (gemm_acc) in linear_backward's two products, 2 threads, BM_TrainStep's MLP shape:
// N = B*T = 1024 rows, K = 512, M = 1408. Arg 0: dx (N,K) += dy (N,M) W (M,K); arg 1: dW (M,K) += dy^T x.
void BM_LinearBackward(benchmark::State& st) {
  set_num_threads(2);
  const int64_t N = 1024, K = 512, M = 1408;
  std::vector<float> dy(static_cast<size_t>(N * M)), x(static_cast<size_t>(N * K)), w(static_cast<size_t>(M * K));
  for (size_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>(i % 17) * 0.01f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) * 0.01f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 11) * 0.01f;
  std::vector<float> dx(x.size()), dw(w.size());
  for (auto _ : st) {
    if (st.range(0) == 0) linear_backward(dy.data(), x.data(), w.data(), N, K, M, dx.data(), nullptr, nullptr);
    else linear_backward(dy.data(), x.data(), w.data(), N, K, M, nullptr, dw.data(), nullptr);
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(N * K * M) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  set_num_threads(0);
}
BENCHMARK(BM_LinearBackward)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace dm
