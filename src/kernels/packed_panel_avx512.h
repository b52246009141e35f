// Internal to kernels/: pieces of the packed AVX-512 GEMMs (gemm_packed_avx512.cpp, gemm_packed_bf16_avx512.cpp);
// include it after the file's target pragma, so that it is compiled for AVX-512 with them.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace dm::kernels {

// r[i][j] -> r[j][i] for a 16 x 16 block: pairs, then quads within 128-bit lanes, then the lanes themselves.
inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // Now r[4g + c]'s 128-bit lane L holds column 4L + c of rows 4g..4g+3: a 4 x 4 transpose of lanes.
  for (int c = 0; c < 4; ++c) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    t[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    t[8 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    t[4 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// The W block packed after the current one, fetched into L2 a slice per token tile: without it, packing
// waits on memory (a quarter of the time at 128 tokens, f32 weights).
struct NextBlock {
  const char* base = nullptr;  // its first row's first byte (nullptr: none)
  int64_t row_stride = 0, lines_per_row = 0, rows = 0;
  void prefetch_slice(int64_t slice, int64_t slices) const {
    if (base == nullptr) return;
    const int64_t lines = rows * lines_per_row;
    for (int64_t l = slice * lines / slices; l < (slice + 1) * lines / slices; ++l)
      _mm_prefetch(base + (l / lines_per_row) * row_stride + (l % lines_per_row) * 64, _MM_HINT_T0);
  }
};

}  // namespace dm::kernels
