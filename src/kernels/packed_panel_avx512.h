// Internal to kernels/: the packed AVX-512 GEMM's driver, shared by its two kernels (gemm_packed_avx512.cpp: f32
// panels and FMA; gemm_packed_bf16_avx512.cpp: bf16 pairs and vdpbf16ps). Include it after the file's target
// pragma, so that it is compiled for that file's ISA.
// Shape legend: x (T, depth) in the kernel's units at row stride ldx, W (N, depth), y (T, N) with row stride ldy.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/prefetch.h"

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

inline constexpr int kPackedMr = 6;           // tokens per register tile
inline constexpr int64_t kPackedNr = 64;      // outputs per panel (4 vectors)
inline constexpr int64_t kPackedDepth = 128;  // panel rows per depth block: 128 x 64 x 4 bytes = 32 KiB, inside L1

// A kernel (Kern) supplies:
//   X, Panel: the activations' and the panel's element types; Vec: what one madd multiplies;
//   kUnitBytes: weight bytes per depth unit (f32 4, f16/bf16 2, bf16 pair 4); weights(), row_bytes();
//   pack(n, rows, d0, dc, panel): panel[d][j] = W[n + j] at depth d0 + d, for d < dc, j < kPackedNr (rows past
//   `rows` zero); load(panel row + 16 v), bcast(x element), madd(acc, a, b) = acc + a * b per lane.

// y[t][0..16 NV) (+)= x[t] . panel for MR tokens, one madd per depth unit; the last vector stores `last` lanes.
template <class Kern, int MR, int NV>
void packed_micro_tile(const typename Kern::X* x, int64_t ldx, const typename Kern::Panel* panel, int64_t dc, float* y,
                       int64_t ldy, bool first, __mmask16 last) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      acc[i][v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + i * ldy + 16 * v);
    }
  for (int64_t d = 0; d < dc; ++d) {
    typename Kern::Vec b[NV];
    for (int v = 0; v < NV; ++v) b[v] = Kern::load(panel + d * kPackedNr + 16 * v);
    for (int i = 0; i < MR; ++i) {
      const typename Kern::Vec a = Kern::bcast(x + i * ldx + d);
      for (int v = 0; v < NV; ++v) acc[i][v] = Kern::madd(acc[i][v], a, b[v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      _mm512_mask_storeu_ps(y + i * ldy + 16 * v, m, acc[i][v]);
    }
}

// All T tokens over one packed panel of NV vectors: full tiles, then one shorter tile; the next block is
// prefetched a slice per tile.
template <class Kern, int NV>
void packed_panel_tokens(const typename Kern::X* x, int64_t T, int64_t ldx, const typename Kern::Panel* panel,
                         int64_t dc, float* y, int64_t ldy, bool first, __mmask16 last, const NextBlock& next) {
  constexpr int kMr = kPackedMr;
  const int64_t tiles = (T + kMr - 1) / kMr;
  int64_t t = 0;
  for (; t + kMr <= T; t += kMr) {
    next.prefetch_slice(t / kMr, tiles);
    packed_micro_tile<Kern, kMr, NV>(x + t * ldx, ldx, panel, dc, y + t * ldy, ldy, first, last);
  }
  if (t == T) return;
  next.prefetch_slice(tiles - 1, tiles);
  const typename Kern::X* xt = x + t * ldx;
  float* yt = y + t * ldy;
  switch (T - t) {
    case 5: return packed_micro_tile<Kern, 5, NV>(xt, ldx, panel, dc, yt, ldy, first, last);
    case 4: return packed_micro_tile<Kern, 4, NV>(xt, ldx, panel, dc, yt, ldy, first, last);
    case 3: return packed_micro_tile<Kern, 3, NV>(xt, ldx, panel, dc, yt, ldy, first, last);
    case 2: return packed_micro_tile<Kern, 2, NV>(xt, ldx, panel, dc, yt, ldy, first, last);
    default: return packed_micro_tile<Kern, 1, NV>(xt, ldx, panel, dc, yt, ldy, first, last);
  }
}

// Rows [n0, n1) of y = x W^T over `depth` units. Panels outer, depth blocks inner: the panel's T x 64 outputs stay
// in L2 across the depth blocks, and x streams past each panel once per block.
template <class Kern>
void packed_gemm_rows(const Kern& kern, const typename Kern::X* x, int64_t T, int64_t ldx, int64_t depth, int64_t n0,
                      int64_t n1, float* y, int64_t ldy) {
  thread_local std::vector<typename Kern::Panel> panel_buf;
  panel_buf.resize(static_cast<size_t>(kPackedDepth * kPackedNr));
  typename Kern::Panel* panel = panel_buf.data();
  for (int64_t n = n0; n < n1; n += kPackedNr) {
    const int64_t rows = std::min(kPackedNr, n1 - n);
    const int nv = static_cast<int>((rows + 15) / 16);
    const __mmask16 last = rows % 16 ? static_cast<__mmask16>((1u << (rows % 16)) - 1) : static_cast<__mmask16>(0xFFFF);
    for (int64_t d0 = 0; d0 < depth; d0 += kPackedDepth) {
      const int64_t dc = std::min(kPackedDepth, depth - d0);
      kern.pack(n, rows, d0, dc, panel);
      NextBlock next;  // this panel's next depth block, or the next panel's first
      const int64_t next_n = d0 + kPackedDepth < depth ? n : n + kPackedNr;
      const int64_t next_d = d0 + kPackedDepth < depth ? d0 + kPackedDepth : 0;
      if (next_n < n1) {
        next.base = kern.weights() + next_n * kern.row_bytes() + next_d * Kern::kUnitBytes;
        next.row_stride = kern.row_bytes();
        next.lines_per_row = (std::min(kPackedDepth, depth - next_d) * Kern::kUnitBytes + 63) / 64;
        next.rows = std::min(kPackedNr, n1 - next_n);
      }
      const typename Kern::X* xd = x + d0;
      float* yn = y + n;
      const bool first = d0 == 0;
      switch (nv) {
        case 4: packed_panel_tokens<Kern, 4>(xd, T, ldx, panel, dc, yn, ldy, first, last, next); break;
        case 3: packed_panel_tokens<Kern, 3>(xd, T, ldx, panel, dc, yn, ldy, first, last, next); break;
        case 2: packed_panel_tokens<Kern, 2>(xd, T, ldx, panel, dc, yn, ldy, first, last, next); break;
        default: packed_panel_tokens<Kern, 1>(xd, T, ldx, panel, dc, yn, ldy, first, last, next); break;
      }
    }
  }
}

}  // namespace dm::kernels
