// AVX-512 exp-bound loops of the forward (kernels/forward_exp_isa.h): 16 elements per vector, masked tail,
// exp by kernels/exp_avx512.h. Before them, std::exp one element at a time was a tenth of a 512-token
// prefill (the softmax of every attention row, SwiGLU over the MLP width).
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/forward_exp_isa.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif

#include "kernels/exp_avx512.h"

namespace dm::kernels {

namespace {
inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
}
}  // namespace

double softmax_row_avx512(float* p, int64_t n, float* max_out) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  // max(p, mx) returns mx where p is NaN: NaN scores are skipped, as the twin's comparison skips them (their
  // exps below are NaN all the same).
  for (int64_t s = 0; s < n; s += 16)
    mx = _mm512_mask_max_ps(mx, tail_mask(n - s), _mm512_maskz_loadu_ps(tail_mask(n - s), p + s), mx);
  const float m = _mm512_reduce_max_ps(mx);
  const __m512 vm = _mm512_set1_ps(m);
  // Two lanes of 8 doubles: the scalar twin sums in double too.
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  for (int64_t s = 0; s < n; s += 16) {
    const __mmask16 k = tail_mask(n - s);
    const __m512 e = _mm512_maskz_mov_ps(k, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, p + s), vm)));
    _mm512_mask_storeu_ps(p + s, k, e);
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  *max_out = m;
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

void swiglu_avx512(const float* gate, const float* up, int64_t n, float* out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(k, gate + i);
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(k, up + i)));
  }
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
