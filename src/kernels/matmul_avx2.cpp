// AVX2 + FMA matmul: register tiles of R weight rows x TT tokens, 8 floats per vector, scalar K tail
// (F32/BF16/F16); ggml block types through block_matmul.h with the ops below.
// Shape legend: x (T, K), W (N, K), y (T, N).
#include <immintrin.h>

#include <cstring>

#include "devops_model/core/error.h"
#include "kernels/matmul_isa.h"

// Only the functions below get the wider ISA (a per-file -m flag could leak it into shared inline code).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#include "kernels/block_matmul.h"

namespace dm::kernels {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Vector ops for the block-type tiles (block_matmul.h): 8 floats per vector, a group of 16 weights in two.
struct Avx2Ops {
  using Vec = __m256;
  static constexpr int kLanes = 8, kVecs = 2;
  static constexpr int kDecodeRows = 4, kPrefillRows = 4, kPrefillTokens = 2;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec set1(float f) { return _mm256_set1_ps(f); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static void widen(__m128i q, Vec* out) {
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(q, q)));
  }
  static void widen(const int8_t* p, Vec* out) {  // two 8-byte loads, each folded into its widening
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8))));
  }
  static float hsum(Vec v) { return kernels::hsum(v); }
};

template <DType WT>
inline __m256 load_w(const void* base, int64_t idx) {
  if constexpr (WT == DType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + idx);
  } else if constexpr (WT == DType::kBF16) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + idx));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + idx));
    return _mm256_cvtph_ps(h);
  }
}

template <DType WT>
inline float load_w1(const void* base, int64_t idx) {
  if constexpr (WT == DType::kF32) {
    return static_cast<const float*>(base)[idx];
  } else if constexpr (WT == DType::kBF16) {
    return bf16_to_f32(static_cast<const uint16_t*>(base)[idx]);
  } else {
    return f16_to_f32(static_cast<const uint16_t*>(base)[idx]);
  }
}

template <DType WT, int R, int TT>
void tile(const float* x, int64_t K, const void* w, int64_t n0, int64_t t0, float* y, int64_t ldy) {
  __m256 acc[R][TT];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < TT; ++j) acc[i][j] = _mm256_setzero_ps();
  const int64_t K8 = K & ~int64_t{7};
  for (int64_t k = 0; k < K8; k += 8) {
    __m256 xv[TT];
    for (int j = 0; j < TT; ++j) xv[j] = _mm256_loadu_ps(x + (t0 + j) * K + k);
    for (int i = 0; i < R; ++i) {
      __m256 wv = load_w<WT>(w, (n0 + i) * K + k);
      for (int j = 0; j < TT; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < TT; ++j) {
      float s = hsum(acc[i][j]);
      for (int64_t k = K8; k < K; ++k) s += load_w1<WT>(w, (n0 + i) * K + k) * x[(t0 + j) * K + k];
      y[(t0 + j) * ldy + n0 + i] = s;
    }
  }
}

template <DType WT>
void rows(const float* x, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  if (T == 1) {
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) tile<WT, 4, 1>(x, K, w, n, 0, y, ldy);
    for (; n < n1; ++n) tile<WT, 1, 1>(x, K, w, n, 0, y, ldy);
    return;
  }
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) {
    int64_t t = 0;
    for (; t + 2 <= T; t += 2) tile<WT, 4, 2>(x, K, w, n, t, y, ldy);
    for (; t < T; ++t) tile<WT, 4, 1>(x, K, w, n, t, y, ldy);
  }
  for (; n < n1; ++n)
    for (int64_t t = 0; t < T; ++t) tile<WT, 1, 1>(x, K, w, n, t, y, ldy);
}

}  // namespace

void matmul_rows_avx2(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                      int64_t ldy) {
  switch (wt) {
    case DType::kF32: return rows<DType::kF32>(x, T, K, w, n0, n1, y, ldy);
    case DType::kBF16: return rows<DType::kBF16>(x, T, K, w, n0, n1, y, ldy);
    case DType::kF16: return rows<DType::kF16>(x, T, K, w, n0, n1, y, ldy);
    default: break;
  }
  if (!with_block_type(wt, BlockRowsFn<Avx2Ops>{x, T, K, w, n0, n1, y, ldy}))
    matmul_rows_scalar(x, T, K, wt, w, n0, n1, y, ldy);
}

void decode_row_avx2(DType wt, const void* src, float* dst, int64_t n) {
  DM_CHECK(with_block_type(wt, BlockDecodeFn<Avx2Ops>{src, dst, n}), dtype_name(wt), " is not a block type");
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
