#include "devops_model/kernels/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "kernels/matmul_isa.h"
#include "kernels/quantized_acts.h"

namespace dm {

namespace {

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return __builtin_cpu_supports("avx512vnni") ? Isa::kAvx512Vnni : Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa initial_isa() {
  Isa best = detect();
  const char* env = std::getenv("DM_ISA");
  if (env == nullptr) return best;
  Isa want = best;
  if (std::strcmp(env, "scalar") == 0) want = Isa::kScalar;
  if (std::strcmp(env, "avx2") == 0) want = Isa::kAvx2;
  if (std::strcmp(env, "avx512") == 0) want = Isa::kAvx512;
  if (std::strcmp(env, "avx512vnni") == 0) want = Isa::kAvx512Vnni;
  return static_cast<int>(want) <= static_cast<int>(best) ? want : best;
}

Isa g_isa = initial_isa();
bool g_bf16_activations = false;

bool cpu_has_avx512_bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16") != 0;
  return has;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vnni: return "avx512vnni";
  }
  return "?";
}

Isa best_isa() {
  static Isa best = detect();
  return best;
}
Isa active_isa() { return g_isa; }
void set_active_isa(Isa isa) {
  DM_CHECK(static_cast<int>(isa) <= static_cast<int>(best_isa()), "ISA not supported by this CPU");
  g_isa = isa;
}

void matmul_rows(Isa isa, const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1,
                 float* y, int64_t ldy) {
  switch (isa) {
    case Isa::kAvx512Vnni:
    case Isa::kAvx512: return kernels::matmul_rows_avx512(x, T, K, wt, w, n0, n1, y, ldy);
    case Isa::kAvx2: return kernels::matmul_rows_avx2(x, T, K, wt, w, n0, n1, y, ldy);
    case Isa::kScalar: return kernels::matmul_rows_scalar(x, T, K, wt, w, n0, n1, y, ldy);
  }
}

bool uses_int8_path(Isa isa, DType wt, int64_t T, int64_t K) {
  if (isa != Isa::kAvx512Vnni || !is_block_type(wt)) return false;
  if (T >= kernels::kTokenLanesMinTokens) return true;
  return has_few_token_int8_kernel(wt) && K % 64 == 0;
}

void set_bf16_activations(bool on) {
  if (on && (!cpu_has_avx512_bf16() || best_isa() != Isa::kAvx512Vnni))
    fail(ErrorKind::kUnsupported, "--bf16-activations needs a CPU with AVX512-BF16 (this one has ",
         isa_name(best_isa()), " and ", cpu_has_avx512_bf16() ? "" : "no ", "AVX512-BF16)");
  g_bf16_activations = on;
}
bool bf16_activations() { return g_bf16_activations; }

bool uses_bf16_pairs_path(Isa isa, DType wt, int64_t T, int64_t K) {
  return g_bf16_activations && isa == Isa::kAvx512Vnni && wt == DType::kBF16 && K % 2 == 0 && T >= kPackedMinTokens;
}

void matmul(const float* x, int64_t T, const TensorView& w, const TensorView& bias, float* y, Activations acts) {
  MatmulTarget t{w, bias, y};
  matmul_group(x, T, std::span<const MatmulTarget>(&t, 1), acts);
}

void matmul_group(const float* x, int64_t T, std::span<const MatmulTarget> targets, Activations activations) {
  // Blocks of 16 rows keep each worker's slice contiguous and SIMD tiles full. The blocks of all targets
  // are numbered in one sequence and split statically across the workers: one parallel region in all.
  const int64_t block = 16;
  std::vector<int64_t> first_block(targets.size() + 1, 0);
  int64_t K = -1;
  for (size_t i = 0; i < targets.size(); ++i) {
    const TensorView& w = targets[i].w;
    DM_CHECK(w.shape.size() == 2, "weight must be 2-D");
    DM_CHECK(w.dtype == DType::kF32 || w.dtype == DType::kBF16 || w.dtype == DType::kF16 || is_block_type(w.dtype),
             "matmul: weights of type ", dtype_name(w.dtype), " are not supported");
    DM_CHECK(w.shape[1] % dtype_block_size(w.dtype) == 0, "matmul: ", dtype_name(w.dtype),
             " weight rows must be whole ", dtype_block_size(w.dtype), "-element blocks, but K = ", w.shape[1]);
    DM_CHECK(K < 0 || w.shape[1] == K, "matmul_group: all weights must share the input width");
    K = w.shape[1];
    first_block[i + 1] = first_block[i] + (w.shape[0] + block - 1) / block;
  }
  // f32 activations on a VNNI CPU: the AVX-512 f32 kernels (the integer path is VNNI's only difference).
  const Isa isa = activations == Activations::kF32 && g_isa == Isa::kAvx512Vnni ? Isa::kAvx512 : g_isa;
  // The integer path's activations are rounded once for all targets that take it.
  // (thread_local for its buffers' reuse; the workers read it through `acts`, not their own instance.)
  thread_local kernels::QuantizedActs caller_acts;
  kernels::QuantizedActs& acts = caller_acts;
  bool any_int8 = false, any_bf16 = false;
  for (const MatmulTarget& t : targets) {
    any_int8 = any_int8 || uses_int8_path(isa, t.w.dtype, T, K);
    any_bf16 = any_bf16 || uses_bf16_pairs_path(isa, t.w.dtype, T, K);
  }
  if (any_int8) kernels::quantize_acts(x, T, K, acts);
  thread_local std::vector<uint32_t> caller_pairs;  // the bf16 path's activations, as `acts`
  uint32_t* pairs = nullptr;
  if (any_bf16) {
    caller_pairs.resize(static_cast<size_t>(T * K / 2));
    pairs = caller_pairs.data();
    parallel_for(T, [&](int64_t t0, int64_t t1) {
      kernels::round_acts_bf16_pairs_avx512(x + t0 * K, (t1 - t0) * K, pairs + t0 * K / 2);
    });
  }
  parallel_for(first_block.back(), [&](int64_t b0, int64_t b1) {
    for (size_t i = 0; i < targets.size(); ++i) {
      const int64_t lo = std::max(b0, first_block[i]), hi = std::min(b1, first_block[i + 1]);
      if (lo >= hi) continue;
      const TensorView& w = targets[i].w;
      const int64_t N = w.shape[0];
      const int64_t n0 = (lo - first_block[i]) * block, n1 = std::min(N, (hi - first_block[i]) * block);
      if (uses_int8_path(isa, w.dtype, T, K)) {
        kernels::matmul_rows_int8_avx512(acts, w.dtype, w.data, n0, n1, targets[i].y, N);
      } else if (uses_bf16_pairs_path(isa, w.dtype, T, K)) {
        kernels::matmul_rows_bf16_pairs_avx512(pairs, T, K, w.data, n0, n1, targets[i].y, N);
      } else {
        matmul_rows(isa, x, T, K, w.dtype, w.data, n0, n1, targets[i].y, N);
      }
    }
  });
  for (const MatmulTarget& t : targets) {
    if (t.bias.empty()) continue;
    const int64_t N = t.w.shape[0];
    std::vector<float> b = t.bias.to_f32();
    for (int64_t r = 0; r < T; ++r) {
      float* yr = t.y + r * N;
      for (int64_t n = 0; n < N; ++n) yr[n] += b[static_cast<size_t>(n)];
    }
  }
}

namespace kernels {

void matmul_rows_scalar(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                        int64_t ldy) {
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = n0; n < n1; ++n) {
    convert_to_f32(wt, static_cast<const uint8_t*>(w) + dtype_bytes(wt, n * K), row.data(), static_cast<size_t>(K));
    for (int64_t t = 0; t < T; ++t) {
      const float* xr = x + t * K;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += xr[k] * row[static_cast<size_t>(k)];
      y[t * ldy + n] = acc;
    }
  }
}

void matmul_rows_int8_scalar(const QuantizedActs& a, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                             int64_t ldy) {
  const std::vector<float> x_hat = dequantize_acts(a);
  matmul_rows_scalar(x_hat.data(), a.T, a.K, wt, w, n0, n1, y, ldy);
}

void matmul_rows_bf16_pairs_scalar(const uint32_t* xb, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1,
                                   float* y, int64_t ldy) {
  std::vector<float> x_hat(static_cast<size_t>(T * K));
  for (int64_t i = 0; i < T * K; ++i)
    x_hat[static_cast<size_t>(i)] = bf16_to_f32(static_cast<uint16_t>(xb[i / 2] >> (i % 2 == 0 ? 0 : 16)));
  matmul_rows_scalar(x_hat.data(), T, K, DType::kBF16, w, n0, n1, y, ldy);
}

}  // namespace kernels
}  // namespace dm
