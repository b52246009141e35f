// Internal to kernels/: exp of 16 floats for the AVX-512 loops (include it after the file's target pragma,
// so that it is compiled for AVX-512 with them). As in Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2 (ln2
// split in two for an exact product), e^r by its degree-6 polynomial, times 2^n by vscalefps; within 2 ulp
// of std::exp over the float range (the loops' tests compare them with their std::exp twins).
#pragma once
#include <immintrin.h>

namespace dm::kernels {

inline __m512 exp_ps(__m512 x) {
  // Clamped with x as the second operand: vmaxps/vminps return it when either is NaN, so NaN stays NaN (the
  // forward's non-finite trace and the trainer's NaN checks rely on it).
  x = _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

}  // namespace dm::kernels
