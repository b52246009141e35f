// Internal to kernels/: the sums of 16 vectors at once (and of one, in the same order) for the AVX-512 kernels (include it after the file's
// target pragma, so that it is compiled for AVX-512 with them).
#pragma once
#include <immintrin.h>

namespace dm::kernels {

// r[i] = sum of a[i]'s 16 lanes: pairs, quads within 128-bit lanes, then across lanes (45 ops for 16 sums,
// where 16 horizontal reductions take about 150).
inline __m512 hsum16(const __m512 (&a)[16]) {
  __m512 b[8], c[4];
  for (int i = 0; i < 8; ++i)
    b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  for (int j = 0; j < 4; ++j)
    c[j] =
        _mm512_add_ps(_mm512_shuffle_ps(b[2 * j], b[2 * j + 1], 0x44), _mm512_shuffle_ps(b[2 * j], b[2 * j + 1], 0xEE));
  const __m512 d0 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
  const __m512 d1 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(d0, d1, 0x88), _mm512_shuffle_f32x4(d0, d1, 0xDD));
}

// The sum of one vector's lanes in hsum16's order, to the bit: ((a0+a2)+(a1+a3)) within each 128-bit lane, then
// (L0+L1)+(L2+L3). Kernels that reduce some accumulators 16 at a time and others alone use it for the rest, so a
// value does not depend on the tile it fell into (a batch equals its tokens one by one).
inline float hsum1(__m512 a) {
  a = _mm512_add_ps(a, _mm512_permute_ps(a, 0x4E));             // pairs 0+2, 1+3 within each 128-bit lane
  a = _mm512_add_ps(a, _mm512_permute_ps(a, 0xB1));             // then (0+2)+(1+3)
  a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0xB1));       // lanes L0+L1, L2+L3
  a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0x4E));       // (L0+L1)+(L2+L3)
  return _mm512_cvtss_f32(a);
}

}  // namespace dm::kernels
