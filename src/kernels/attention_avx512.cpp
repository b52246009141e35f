// AVX-512 inner loops of attention (kernels/attention.cpp): one query's scores against n keys, and the
// probability-weighted sum of n value rows. 16 floats per vector along the head dimension D, masked tail;
// scores 16 keys at a time (16 independent FMA chains, reduced together), values with two accumulator sets.
// Shape legend: q (D), k/v rows of D floats at stride kv_stride, p (n), o (D).
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

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

// q . k over D, as one vector of partial sums (16 lanes) to be reduced by the caller.
inline __m512 dot_lanes(const float* q, const float* kv, int64_t D16, __mmask16 tail) {
  __m512 acc = _mm512_setzero_ps();
  int64_t d = 0;
  for (; d < D16; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(kv + d), acc);
  if (tail) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + d), _mm512_maskz_loadu_ps(tail, kv + d), acc);
  return acc;
}

}  // namespace

void attention_scores_avx512(const float* q, const float* k, int64_t kv_stride, int64_t D, int64_t n, float scale,
                             float* p) {
  const int64_t D16 = D & ~int64_t{15};
  const __mmask16 tail = static_cast<__mmask16>((1u << (D - D16)) - 1);
  const __m512 vscale = _mm512_set1_ps(scale);
  int64_t s = 0;
  // 16 keys at a time: 16 independent FMA chains, reduced together.
  for (; s + 16 <= n; s += 16) {
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = dot_lanes(q, k + (s + i) * kv_stride, D16, tail);
    _mm512_storeu_ps(p + s, _mm512_mul_ps(hsum16(acc), vscale));
  }
  for (; s < n; ++s) p[s] = hsum1(dot_lanes(q, k + s * kv_stride, D16, tail)) * scale;
}

void attention_accumulate_avx512(const float* p, float weight, const float* v, int64_t kv_stride, int64_t D, int64_t n,
                                 float* o) {
  // o = weight * sum_s p[s] * v[s], 4 vectors of o in registers at a time, even and odd keys in separate
  // accumulators (one FMA chain per vector would wait on the FMA's latency), added at the end.
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    __mmask16 m[4];
    __m512 acc[2][4];
    for (int c = 0; c < 4; ++c) {
      const int64_t left = D - d0 - 16 * c;
      m[c] = left >= 16 ? static_cast<__mmask16>(0xffff)
             : left > 0 ? static_cast<__mmask16>((1u << left) - 1)
                        : static_cast<__mmask16>(0);
      acc[0][c] = acc[1][c] = _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < n; ++s) {
      const __m512 ps = _mm512_set1_ps(p[s] * weight);
      const float* vv = v + s * kv_stride + d0;
      __m512(&a)[4] = acc[s & 1];
      for (int c = 0; c < 4; ++c) a[c] = _mm512_fmadd_ps(ps, _mm512_maskz_loadu_ps(m[c], vv + 16 * c), a[c]);
    }
    for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(o + d0 + 16 * c, m[c], _mm512_add_ps(acc[0][c], acc[1][c]));
  }
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
