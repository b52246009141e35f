// AVX-512 matmul: register tiles of R weight rows x TT tokens, 16 floats per vector, masked K tail
// (F32/BF16/F16); ggml block types through block_matmul.h with the ops below.
// Shape legend: x (T, K), W (N, K), y (T, N).
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "devops_model/core/error.h"
#include "kernels/matmul_isa.h"

// Only the functions below get the wider ISA (a per-file -m flag could leak it into shared inline code).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
#endif

#include "kernels/block_matmul.h"
#include "kernels/hsum16_avx512.h"
#include "kernels/prefetch.h"

namespace dm::kernels {

namespace {

// Vector ops for the block-type tiles (block_matmul.h): 16 floats per vector, one group of 16 weights.
struct Avx512Ops {
  using Vec = __m512;
  static constexpr int kLanes = 16, kVecs = 1;
  static constexpr int kDecodeRows = 8, kPrefillRows = 4, kPrefillTokens = 4;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec set1(float f) { return _mm512_set1_ps(f); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static void widen(__m128i q, Vec* out) { out[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)); }
  static void widen(const int8_t* p, Vec* out) { widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), out); }
  static float hsum(Vec v) { return _mm512_reduce_add_ps(v); }
};

template <DType WT>
inline __m512 load_w_full(const void* base, int64_t idx) {
  if constexpr (WT == DType::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(base) + idx);
  } else if constexpr (WT == DType::kBF16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + idx));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + idx));
    return _mm512_cvtph_ps(h);
  }
}

template <DType WT>
inline __m512 load_w(const void* base, int64_t idx, __mmask16 m) {
  if constexpr (WT == DType::kF32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + idx);
  } else if constexpr (WT == DType::kBF16) {
    __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + idx);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + idx);
    return _mm512_cvtph_ps(h);
  }
}

// y[t0 + j, n0 + i] = the sum of acc[i][j]'s lanes: 16 accumulators at a time through one transposed
// reduction (a tenth of a 6 x 4 prefill tile went to 24 separate horizontal sums), fewer one by one in the
// same order (every tile shape gives a product the same bits).
template <int R, int TT>
inline void store_sums(__m512 (&acc)[R][TT], float* y, int64_t ldy, int64_t n0, int64_t t0) {
  constexpr int kN = R * TT;
  if constexpr (kN >= 8) {
    float sums[(kN + 15) / 16 * 16];
    for (int g = 0; g < kN; g += 16) {
      __m512 v[16];
      for (int m = 0; m < 16; ++m) v[m] = g + m < kN ? acc[(g + m) / TT][(g + m) % TT] : _mm512_setzero_ps();
      _mm512_storeu_ps(sums + g, hsum16(v));
    }
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < TT; ++j) y[(t0 + j) * ldy + n0 + i] = sums[i * TT + j];
  } else {
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < TT; ++j) y[(t0 + j) * ldy + n0 + i] = hsum1(acc[i][j]);
  }
}

// Computes the R x TT tile y[t0+j, n0+i]: full 16-wide steps with plain loads, then one masked tail step.
template <DType WT, int R, int TT>
inline void tile_step(const float* x, int64_t K, const void* w, int64_t n0, int64_t t0, int64_t k, __mmask16 m,
                      __m512 (&acc)[R][TT]) {
  __m512 xv[TT];
  for (int j = 0; j < TT; ++j) xv[j] = _mm512_maskz_loadu_ps(m, x + (t0 + j) * K + k);
  for (int i = 0; i < R; ++i) {
    __m512 wv = load_w<WT>(w, (n0 + i) * K + k, m);
    for (int j = 0; j < TT; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
  }
}

template <DType WT, int R, int TT>
void tile(const float* x, int64_t K, const void* w, int64_t n0, int64_t t0, float* y, int64_t ldy) {
  __m512 acc[R][TT];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < TT; ++j) acc[i][j] = _mm512_setzero_ps();
  const int64_t K16 = K & ~int64_t{15};
  int64_t k = 0;
  for (; k < K16; k += 16) {
    __m512 xv[TT];
    for (int j = 0; j < TT; ++j) xv[j] = _mm512_loadu_ps(x + (t0 + j) * K + k);
    for (int i = 0; i < R; ++i) {
      if constexpr (TT == 1 && R > 1) {  // decode: R row streams outrun the hardware prefetcher
        constexpr int64_t kSize = WT == DType::kF32 ? 4 : 2;
        _mm_prefetch(static_cast<const char*>(w) + ((n0 + i) * K + k) * kSize + kRowPrefetchBytes, _MM_HINT_T0);
      }
      __m512 wv = load_w_full<WT>(w, (n0 + i) * K + k);
      for (int j = 0; j < TT; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
  if (k < K) tile_step<WT, R, TT>(x, K, w, n0, t0, k, static_cast<__mmask16>((1u << (K - k)) - 1), acc);
  store_sums<R, TT>(acc, y, ldy, n0, t0);
}

template <DType WT>
void rows(const float* x, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  if (T == 1) {  // decode: memory-bound, many independent row streams
    int64_t n = n0;
    for (; n + 8 <= n1; n += 8) tile<WT, 8, 1>(x, K, w, n, 0, y, ldy);
    for (; n < n1; ++n) tile<WT, 1, 1>(x, K, w, n, 0, y, ldy);
    return;
  }
  if (use_packed_gemm(T, K, WT)) return matmul_rows_packed_avx512(x, T, K, WT, w, n0, n1, y, ldy);
  // Few tokens (batched decode): 6 rows x 4 tokens (24 accumulators). The x vectors stream from L2 once per row tile, so rows per
  // tile set the L2 traffic per FMA (64 / R bytes); the rows' weights stay in L1/L2 across token tiles.
  // (BM_Matmul 128x4864x896: bf16 ~275 -> ~317 GFLOP/s, f32 ~289 -> ~307 on 2 Zen 5 cores.)
  // The next 6 rows are fetched a slice per token tile: the hardware prefetchers do not run ahead into the next
  // row group, whose first tile otherwise waits on DRAM (128-token prefill, 2 Zen 5 cores, this and the packed
  // kernel's prefetch_rows together: bf16 Qwen2.5-0.5B 487 -> 529 tok/s, f16 1.5B 143 -> 154).
  constexpr int64_t kSize = WT == DType::kF32 ? 4 : 2;
  const int64_t group_bytes = 6 * K * kSize, tiles = T / 4;
  int64_t n = n0;
  for (; n + 6 <= n1; n += 6) {
    const char* next = n + 12 <= n1 ? static_cast<const char*>(w) + (n + 6) * K * kSize : nullptr;
    int64_t t = 0;
    for (; t + 4 <= T; t += 4) {
      if (next) prefetch_slice(next, group_bytes, t / 4, tiles);
      tile<WT, 6, 4>(x, K, w, n, t, y, ldy);
    }
    for (; t < T; ++t) tile<WT, 6, 1>(x, K, w, n, t, y, ldy);
  }
  for (; n + 4 <= n1; n += 4) {
    int64_t t = 0;
    for (; t + 4 <= T; t += 4) tile<WT, 4, 4>(x, K, w, n, t, y, ldy);
    for (; t < T; ++t) tile<WT, 4, 1>(x, K, w, n, t, y, ldy);
  }
  for (; n < n1; ++n) {
    int64_t t = 0;
    for (; t + 4 <= T; t += 4) tile<WT, 1, 4>(x, K, w, n, t, y, ldy);
    for (; t < T; ++t) tile<WT, 1, 1>(x, K, w, n, t, y, ldy);
  }
}

}  // namespace

void matmul_rows_avx512(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                        int64_t ldy) {
  switch (wt) {
    case DType::kF32: return rows<DType::kF32>(x, T, K, w, n0, n1, y, ldy);
    case DType::kBF16: return rows<DType::kBF16>(x, T, K, w, n0, n1, y, ldy);
    case DType::kF16: return rows<DType::kF16>(x, T, K, w, n0, n1, y, ldy);
    default: break;
  }
  if (!with_block_type(wt, BlockRowsFn<Avx512Ops>{x, T, K, w, n0, n1, y, ldy}))
    matmul_rows_scalar(x, T, K, wt, w, n0, n1, y, ldy);
}

void decode_row_avx512(DType wt, const void* src, float* dst, int64_t n) {
  DM_CHECK(with_block_type(wt, BlockDecodeFn<Avx512Ops>{src, dst, n}), dtype_name(wt), " is not a block type");
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
