// AVX-512 inner loops of attention (kernels/attention.cpp): one query's scores against n keys, and the
// probability-weighted sum of n value rows. 16 floats per vector along the head dimension D, masked tail;
// the score of one key is four independent FMA chains reduced once (the scalar twin's single chain is
// latency-bound). Shape legend: q (D), k/v rows of D floats at stride kv_stride, p (n), o (D).
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

namespace dm::kernels {

void attention_scores_avx512(const float* q, const float* k, int64_t kv_stride, int64_t D, int64_t n, float scale,
                             float* p) {
  const int64_t D16 = D & ~int64_t{15};
  const __mmask16 tail = static_cast<__mmask16>((1u << (D - D16)) - 1);
  for (int64_t s = 0; s < n; ++s) {
    const float* kv = k + s * kv_stride;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t d = 0;
    for (int c = 0; d < D16; d += 16, c = (c + 1) & 3)
      acc[c] = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(kv + d), acc[c]);
    if (tail) acc[3] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + d), _mm512_maskz_loadu_ps(tail, kv + d), acc[3]);
    p[s] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]))) * scale;
  }
}

void attention_accumulate_avx512(const float* p, float weight, const float* v, int64_t kv_stride, int64_t D, int64_t n,
                                 float* o) {
  // o = weight * sum_s p[s] * v[s], 4 vectors of o in registers at a time.
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    __mmask16 m[4];
    __m512 acc[4];
    for (int c = 0; c < 4; ++c) {
      const int64_t left = D - d0 - 16 * c;
      m[c] = left >= 16 ? static_cast<__mmask16>(0xffff)
             : left > 0 ? static_cast<__mmask16>((1u << left) - 1)
                        : static_cast<__mmask16>(0);
      acc[c] = _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < n; ++s) {
      const __m512 ps = _mm512_set1_ps(p[s] * weight);
      const float* vv = v + s * kv_stride + d0;
      for (int c = 0; c < 4; ++c) acc[c] = _mm512_fmadd_ps(ps, _mm512_maskz_loadu_ps(m[c], vv + 16 * c), acc[c]);
    }
    for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(o + d0 + 16 * c, m[c], acc[c]);
  }
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
