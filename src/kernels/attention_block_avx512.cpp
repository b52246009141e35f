// AVX-512 attention over a block of queries that share a KV head (kernels/attention.cpp's AVX-512 path), to the bit
// the same arithmetic as the one-query loops of attention_avx512.cpp: a query's scores and outputs do not depend on
// whether it was computed in a block or alone (a prompt split differently, by a prefix cache for one, gives the
// same tokens). What changes is the reuse: per query, each key and value vector loaded feeds one FMA; here it feeds
// one per query of the tile.
// - Scores: register tiles of 4 queries x 4 keys, each product's 16 lanes summed over d as dot_lanes does, the 16
//   tile sums reduced together by hsum16 (hsum1's order, as the one-query loop's 16-key groups and tail).
// - Values: tiles of 3 queries x 64 of d, each probability times its row's weight, even and odd keys in separate
//   accumulators added at the end, as attention_accumulate_avx512.
// Query row i sees keys [0, n0 + i * step): step 1 for a block of a head's consecutive queries (causal), step 0
// for the query heads that share a KV head at one position (a decode step). Scores past a row's keys may be written
// (within the row's lds, up to the block's last key); values never read a probability past a row's keys.
// Shape legend: q rows of D floats at stride ldq; k/v rows of D floats at stride kv_stride; S (rows, keys) at
// stride lds; o rows of D floats at stride ldo.
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/attention_isa.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif

#include "kernels/hsum16_avx512.h"

namespace dm::kernels {

namespace {

constexpr int kScoreRows = 4, kScoreKeys = 4;  // 16 products, one hsum16
constexpr int kValueRows = 3;                  // 3 queries x 4 vectors x even/odd keys: 24 accumulators

inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n > 0 ? static_cast<__mmask16>((1u << n) - 1) : 0;
}

// S[i][j] = scale * q_i . k_j for R rows (R <= 4, the rest of the 16 sums padded with zeros) and 4 keys.
template <int R>
void scores_tile(const float* q, int64_t ldq, const float* k, int64_t kv_stride, int64_t D, float scale, float* S,
                 int64_t lds) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  const int64_t D16 = D & ~int64_t{15};
  const __mmask16 tail = lanes(D - D16);
  for (int64_t d = 0; d < D16; d += 16) {
    __m512 kv[kScoreKeys];
    for (int j = 0; j < kScoreKeys; ++j) kv[j] = _mm512_loadu_ps(k + j * kv_stride + d);
    for (int i = 0; i < R; ++i) {
      const __m512 qv = _mm512_loadu_ps(q + i * ldq + d);
      for (int j = 0; j < kScoreKeys; ++j) acc[i * kScoreKeys + j] = _mm512_fmadd_ps(qv, kv[j], acc[i * kScoreKeys + j]);
    }
  }
  if (tail) {
    __m512 kv[kScoreKeys];
    for (int j = 0; j < kScoreKeys; ++j) kv[j] = _mm512_maskz_loadu_ps(tail, k + j * kv_stride + D16);
    for (int i = 0; i < R; ++i) {
      const __m512 qv = _mm512_maskz_loadu_ps(tail, q + i * ldq + D16);
      for (int j = 0; j < kScoreKeys; ++j) acc[i * kScoreKeys + j] = _mm512_fmadd_ps(qv, kv[j], acc[i * kScoreKeys + j]);
    }
  }
  const __m512 sums = _mm512_mul_ps(hsum16(acc), _mm512_set1_ps(scale));
  if (R > 0) _mm_storeu_ps(S, _mm512_extractf32x4_ps(sums, 0));
  if (R > 1) _mm_storeu_ps(S + lds, _mm512_extractf32x4_ps(sums, 1));
  if (R > 2) _mm_storeu_ps(S + 2 * lds, _mm512_extractf32x4_ps(sums, 2));
  if (R > 3) _mm_storeu_ps(S + 3 * lds, _mm512_extractf32x4_ps(sums, 3));
}

// o_i (64 of d from v's column) for R rows: keys [0, n_first) seen by every row, then (causal rows, step 1) key
// n_first + m by rows m + 1 and on. Probabilities already carry their row's weight.
template <int R, bool kCausal>
void values_tile(const float* P, int64_t ldp, int64_t n_first, const float* v, int64_t kv_stride, int64_t width,
                 float* o, int64_t ldo) {
  __mmask16 m[4];
  __m512 acc[R][2][4];
  for (int c = 0; c < 4; ++c) m[c] = lanes(width - 16 * c);
  for (int i = 0; i < R; ++i)
    for (int c = 0; c < 4; ++c) acc[i][0][c] = acc[i][1][c] = _mm512_setzero_ps();
  int64_t s = 0;
  for (; s < n_first; s += 2) {  // even and odd keys: constant indices keep the accumulators in registers
#pragma GCC unroll 2
    for (int parity = 0; parity < 2; ++parity) {
      if (parity == 1 && s + 1 == n_first) break;
      __m512 b[4];
      for (int c = 0; c < 4; ++c) b[c] = _mm512_maskz_loadu_ps(m[c], v + (s + parity) * kv_stride + 16 * c);
      for (int i = 0; i < R; ++i) {
        const __m512 a = _mm512_set1_ps(P[i * ldp + s + parity]);
        for (int c = 0; c < 4; ++c) acc[i][parity][c] = _mm512_fmadd_ps(a, b[c], acc[i][parity][c]);
      }
    }
  }
  // Key n_first + j - 1 for rows j and on only (a masked FMA leaves the other rows' sums as they are).
  for (int j = 1; j < R && kCausal; ++j) {
    const int64_t t = n_first + j - 1;
    __m512 b[4];
    for (int c = 0; c < 4; ++c) b[c] = _mm512_maskz_loadu_ps(m[c], v + t * kv_stride + 16 * c);
    const bool odd = t % 2 == 1;
    for (int i = 1; i < R; ++i) {
      const __mmask16 use = i >= j ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>(0);
      const __m512 a = _mm512_set1_ps(i >= j ? P[i * ldp + t] : 0.0f);
      for (int c = 0; c < 4; ++c) {
        const __mmask16 even_use = odd ? static_cast<__mmask16>(0) : use, odd_use = odd ? use : static_cast<__mmask16>(0);
        acc[i][0][c] = _mm512_mask3_fmadd_ps(a, b[c], acc[i][0][c], even_use);
        acc[i][1][c] = _mm512_mask3_fmadd_ps(a, b[c], acc[i][1][c], odd_use);
      }
    }
  }
  for (int i = 0; i < R; ++i)
    for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(o + i * ldo + 16 * c, m[c], _mm512_add_ps(acc[i][0][c], acc[i][1][c]));
}

// fn(std::integral_constant<int, r>) for r in 1..3: a tile's row count as a template parameter.
template <class Fn>
void with_rows(int r, Fn&& fn) {
  switch (r) {
    case 3: return fn(std::integral_constant<int, 3>{});
    case 2: return fn(std::integral_constant<int, 2>{});
    default: return fn(std::integral_constant<int, 1>{});
  }
}

}  // namespace

void attention_block_scores_avx512(const float* q, int64_t ldq, int64_t rows, const float* k, int64_t kv_stride,
                                   int64_t D, int64_t n0, int64_t step, float scale, float* S, int64_t lds) {
  for (int64_t i = 0; i < rows; i += kScoreRows) {
    const int r = static_cast<int>(std::min<int64_t>(kScoreRows, rows - i));
    const float* qi = q + i * ldq;
    float* Si = S + i * lds;
    if (r <= 2) {  // half a tile or less: the one-query loop's 16 keys per reduction do better
      for (int ri = 0; ri < r; ++ri)
        attention_scores_avx512(qi + ri * ldq, k, kv_stride, D, n0 + (i + ri) * step, scale, Si + ri * lds);
      continue;
    }
    const int64_t keys = n0 + (i + r - 1) * step;  // the tile's last row's
    for (int64_t s = 0; s < keys; s += kScoreKeys) {
      const float* ks = k + s * kv_stride;
      if (s + kScoreKeys > keys) {  // the last keys: one product at a time, each row only its own keys
        for (int ri = 0; ri < r; ++ri)
          attention_scores_avx512(qi + ri * ldq, ks, kv_stride, D, std::min(keys, n0 + (i + ri) * step) - s, scale,
                                  Si + ri * lds + s);
        break;
      }
      if (r == 4) {
        scores_tile<4>(qi, ldq, ks, kv_stride, D, scale, Si + s, lds);
      } else {
        scores_tile<3>(qi, ldq, ks, kv_stride, D, scale, Si + s, lds);
      }
    }
  }
}

void attention_block_values_avx512(float* P, int64_t ldp, int64_t rows, const float* weight, const float* v,
                                   int64_t kv_stride, int64_t D, int64_t n0, int64_t step, float* o, int64_t ldo) {
  for (int64_t i = 0; i < rows; ++i) {  // p * weight, as attention_accumulate multiplies each probability
    float* p = P + i * ldp;
    const __m512 w = _mm512_set1_ps(weight[i]);
    const int64_t n = n0 + i * step;
    int64_t s = 0;
    for (; s + 16 <= n; s += 16) _mm512_storeu_ps(p + s, _mm512_mul_ps(_mm512_loadu_ps(p + s), w));
    if (s < n) _mm512_mask_storeu_ps(p + s, lanes(n - s), _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(n - s), p + s), w));
  }
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    const int64_t width = std::min<int64_t>(64, D - d0);
    for (int64_t i = 0; i < rows; i += kValueRows) {
      const float* Pi = P + i * ldp;
      float* oi = o + i * ldo + d0;
      const int64_t n_first = n0 + i * step;
      const int r = static_cast<int>(std::min<int64_t>(kValueRows, rows - i));
      if (step == 1) {
        with_rows(r, [&](auto R) { values_tile<R, true>(Pi, ldp, n_first, v + d0, kv_stride, width, oi, ldo); });
      } else {
        with_rows(r, [&](auto R) { values_tile<R, false>(Pi, ldp, n_first, v + d0, kv_stride, width, oi, ldo); });
      }
    }
  }
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
