// AVX-512 exp-bound loops of the training backward (kernels/backward_exp_isa.h): 16 elements per vector,
// masked tail, exp by kernels/exp_avx512.h.
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "kernels/backward_exp_isa.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif

#include "kernels/exp_avx512.h"

namespace dm::kernels {


void swiglu_backward_avx512(const float* dout, const float* gate, const float* up, int64_t n, float* dgate,
                            float* dup) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i), d = _mm512_maskz_loadu_ps(m, dout + i);
    const __m512 u = _mm512_maskz_loadu_ps(m, up + i);
    const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    const __m512 silu = _mm512_mul_ps(g, s);
    _mm512_mask_storeu_ps(dup + i, m, _mm512_fmadd_ps(d, silu, _mm512_maskz_loadu_ps(m, dup + i)));
    // dout * up * s * (1 + g * (1 - s)), in the twin's order of products
    const __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, u), s), _mm512_fmadd_ps(g, _mm512_sub_ps(one, s), one));
    _mm512_mask_storeu_ps(dgate + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dgate + i), t));
  }
}

void softmax_grad_row_avx512(float* s, float* dp, int64_t n, int64_t last, float scale, float lse, float delta) {
  const __m512 vs = _mm512_set1_ps(scale), vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(delta);
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (n - j)) - 1);
    // keys j + lane <= last keep their probability; the causal mask zeroes the rest
    const __mmask16 keep = _mm512_cmple_epi32_mask(_mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(j))),
                                                   _mm512_set1_epi32(static_cast<int>(last)));
    const __m512 x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, s + j), vs, vl);
    const __m512 p = _mm512_maskz_mov_ps(keep, exp_ps(x));
    _mm512_mask_storeu_ps(s + j, m, p);
    const __m512 g = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dp + j), vd)), vs);
    _mm512_mask_storeu_ps(dp + j, m, g);
  }
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
