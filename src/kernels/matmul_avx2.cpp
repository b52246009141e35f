// AVX2 + FMA matmul: register tiles of R weight rows x TT tokens, 8 floats per vector, scalar K tail.
// Shape legend: x (T, K), W (N, K), y (T, N).
#include <immintrin.h>

#include "kernels/matmul_isa.h"

// Only the functions below get the wider ISA (a per-file -m flag could leak it into shared inline code).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace dm::kernels {

namespace {

// Q8_0: 8 elements from a multiple of 8 stay inside one block (rows are whole blocks): d * q.
inline const uint8_t* q8_block(const void* base, int64_t idx) {
  return static_cast<const uint8_t*>(base) + static_cast<uint64_t>(idx) / kQ8Block * kQ8_0BlockBytes;
}
inline float q8_scale(const uint8_t* blk) {
  uint16_t h;
  __builtin_memcpy(&h, blk, 2);
  const float d = _cvtsh_ss(h);
  return d;
}

template <DType WT>
inline __m256 load_w(const void* base, int64_t idx) {
  if constexpr (WT == DType::kQ8_0) {
    const uint8_t* blk = q8_block(base, idx);
    __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + static_cast<uint64_t>(idx) % kQ8Block));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(q8_scale(blk)));
  } else if constexpr (WT == DType::kF32) {
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
  if constexpr (WT == DType::kQ8_0) {
    const uint8_t* blk = q8_block(base, idx);
    return q8_scale(blk) * static_cast<float>(static_cast<int8_t>(blk[2 + static_cast<uint64_t>(idx) % kQ8Block]));
  } else if constexpr (WT == DType::kF32) {
    return static_cast<const float*>(base)[idx];
  } else if constexpr (WT == DType::kBF16) {
    return bf16_to_f32(static_cast<const uint16_t*>(base)[idx]);
  } else {
    return f16_to_f32(static_cast<const uint16_t*>(base)[idx]);
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
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

// Q8_0 tile, a block (32 = four vectors) at a time: the block's products are summed unscaled and the
// block scale applied once (one multiply a block instead of four).
template <int R, int TT>
void tile_q8(const float* x, int64_t K, const void* w, int64_t n0, int64_t t0, float* y, int64_t ldy) {
  __m256 acc[R][TT];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < TT; ++j) acc[i][j] = _mm256_setzero_ps();
  const int64_t blocks = K / kQ8Block;
  const auto* base = static_cast<const uint8_t*>(w);
  for (int64_t b = 0; b < blocks; ++b) {
    __m256 xv[TT][4];
    for (int j = 0; j < TT; ++j)
      for (int v = 0; v < 4; ++v) xv[j][v] = _mm256_loadu_ps(x + (t0 + j) * K + b * kQ8Block + 8 * v);
    for (int i = 0; i < R; ++i) {
      const uint8_t* blk = base + static_cast<size_t>((n0 + i) * blocks + b) * kQ8_0BlockBytes;
      __m256 wv[4];
      for (int v = 0; v < 4; ++v)
        wv[v] = _mm256_cvtepi32_ps(
            _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * v))));
      const __m256 d = _mm256_set1_ps(q8_scale(blk));
      for (int j = 0; j < TT; ++j) {
        __m256 s = _mm256_mul_ps(wv[0], xv[j][0]);
        for (int v = 1; v < 4; ++v) s = _mm256_fmadd_ps(wv[v], xv[j][v], s);
        acc[i][j] = _mm256_fmadd_ps(s, d, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < TT; ++j) y[(t0 + j) * ldy + n0 + i] = hsum(acc[i][j]);
}

template <DType WT>
void rows(const float* x, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  if constexpr (WT == DType::kQ8_0) {
    int64_t n = n0;
    if (T == 1) {
      for (; n + 4 <= n1; n += 4) tile_q8<4, 1>(x, K, w, n, 0, y, ldy);
      for (; n < n1; ++n) tile_q8<1, 1>(x, K, w, n, 0, y, ldy);
      return;
    }
    for (; n + 4 <= n1; n += 4) {
      int64_t t = 0;
      for (; t + 2 <= T; t += 2) tile_q8<4, 2>(x, K, w, n, t, y, ldy);
      for (; t < T; ++t) tile_q8<4, 1>(x, K, w, n, t, y, ldy);
    }
    for (; n < n1; ++n)
      for (int64_t t = 0; t < T; ++t) tile_q8<1, 1>(x, K, w, n, t, y, ldy);
    return;
  }
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
    case DType::kQ8_0: return rows<DType::kQ8_0>(x, T, K, w, n0, n1, y, ldy);
    default: return matmul_rows_scalar(x, T, K, wt, w, n0, n1, y, ldy);
  }
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
