// AVX-512 prefill GEMM for F32/BF16/F16 weights: y = x W^T, single-threaded over weight rows [n0, n1).
// Shape legend: x (T, K), W (N, K), y (T, N) with row stride ldy.
//
// The dot-product tiles of matmul_avx512.cpp reload every token's whole row of x for each tile of weight
// rows, which leaves L2 once T x K passes ~1 MiB (512 tokens, or the MLP's down projection) and sums each
// output horizontally. Here W is packed instead: 64 rows at a time, one depth block at a time, transposed
// into a panel [k][64] of f32 (bf16/f16 widened while packing: the same values the other kernels use), which
// stays in L1 while every token passes over it; a register tile of 6 tokens x 64 outputs (24 accumulators)
// broadcasts x and streams the panel, one FMA per product and no horizontal sums. Each W element is packed
// once per call, each output summed in k order, one FMA per product. The twin is matmul_rows_scalar.
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/matmul_isa.h"

// Only the functions below get the wider ISA (a per-file -m flag could leak it into shared inline code).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
#endif

#include "kernels/packed_panel_avx512.h"

namespace dm::kernels {

namespace {

constexpr int kMr = 6;        // tokens per register tile
constexpr int64_t kNr = 64;   // outputs per panel (4 vectors)
constexpr int64_t kKc = 128;  // depth block: a panel is 128 x 64 f32 = 32 KiB, inside L1

// 16 weights of one row from element idx on, widened to f32; `m` masks the ones past the row's end.
template <DType WT>
inline __m512 load_w16(const void* base, int64_t idx, __mmask16 m) {
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

// panel[k][j] = W[n + j][k0 + k] for k < kc, j < kNr; rows past `rows` are zeros.
template <DType WT>
void pack_panel(const void* w, int64_t K, int64_t n, int64_t rows, int64_t k0, int64_t kc, float* panel) {
  for (int64_t j0 = 0; j0 < rows; j0 += 16) {
    for (int64_t k = 0; k < kc; k += 16) {
      const int64_t width = std::min<int64_t>(16, kc - k);
      const __mmask16 m = static_cast<__mmask16>((1u << width) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = j0 + i < rows ? load_w16<WT>(w, (n + j0 + i) * K + k0 + k, m) : _mm512_setzero_ps();
      transpose16(r);
      for (int i = 0; i < width; ++i) _mm512_storeu_ps(panel + (k + i) * kNr + j0, r[i]);
    }
  }
}

// y[t][0..16 NV) (+)= x[t][0..kc) . panel for MR tokens; the last vector stores only `last` lanes.
template <int MR, int NV>
void micro_tile(const float* x, int64_t ldx, const float* panel, int64_t kc, float* y, int64_t ldy, bool first,
                __mmask16 last) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      acc[i][v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + i * ldy + 16 * v);
    }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(panel + k * kNr + 16 * v);
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(x[i * ldx + k]);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      _mm512_mask_storeu_ps(y + i * ldy + 16 * v, m, acc[i][v]);
    }
}

// All T tokens over one packed panel of NV vectors: full 6-token tiles, then one shorter tile.
template <int NV>
void panel_tokens(const float* x, int64_t T, int64_t K, const float* panel, int64_t kc, float* y, int64_t ldy,
                  bool first, __mmask16 last, const NextBlock& next) {
  const int64_t tiles = (T + kMr - 1) / kMr;
  int64_t t = 0;
  for (; t + kMr <= T; t += kMr) {
    next.prefetch_slice(t / kMr, tiles);
    micro_tile<kMr, NV>(x + t * K, K, panel, kc, y + t * ldy, ldy, first, last);
  }
  if (t == T) return;
  next.prefetch_slice(tiles - 1, tiles);
  const float* xt = x + t * K;
  float* yt = y + t * ldy;
  switch (T - t) {
    case 5: return micro_tile<5, NV>(xt, K, panel, kc, yt, ldy, first, last);
    case 4: return micro_tile<4, NV>(xt, K, panel, kc, yt, ldy, first, last);
    case 3: return micro_tile<3, NV>(xt, K, panel, kc, yt, ldy, first, last);
    case 2: return micro_tile<2, NV>(xt, K, panel, kc, yt, ldy, first, last);
    default: return micro_tile<1, NV>(xt, K, panel, kc, yt, ldy, first, last);
  }
}

template <DType WT>
void packed_rows(const float* x, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  constexpr int64_t kElemBytes = WT == DType::kF32 ? 4 : 2;
  thread_local std::vector<float> panel_buf;
  panel_buf.resize(static_cast<size_t>(kKc * kNr));
  float* panel = panel_buf.data();
  // Panels outer, depth blocks inner: the panel's T x 64 outputs stay in L2 across the depth blocks, and x
  // streams past each panel at 4 bytes per 64 products.
  for (int64_t n = n0; n < n1; n += kNr) {
    const int64_t rows = std::min(kNr, n1 - n);
    const int nv = static_cast<int>((rows + 15) / 16);
    const __mmask16 last = rows % 16 ? static_cast<__mmask16>((1u << (rows % 16)) - 1) : static_cast<__mmask16>(0xFFFF);
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kc = std::min(kKc, K - k0);
      pack_panel<WT>(w, K, n, rows, k0, kc, panel);
      // The next block: this panel's next depth block, or the next panel's first.
      NextBlock next;
      const int64_t next_n = k0 + kKc < K ? n : n + kNr, next_k = k0 + kKc < K ? k0 + kKc : 0;
      if (next_n < n1) {
        next.base = static_cast<const char*>(w) + (next_n * K + next_k) * kElemBytes;
        next.row_stride = K * kElemBytes;
        next.lines_per_row = (std::min(kKc, K - next_k) * kElemBytes + 63) / 64;
        next.rows = std::min(kNr, n1 - next_n);
      }
      const float* xk = x + k0;
      float* yn = y + n;
      const bool first = k0 == 0;
      switch (nv) {
        case 4: panel_tokens<4>(xk, T, K, panel, kc, yn, ldy, first, last, next); break;
        case 3: panel_tokens<3>(xk, T, K, panel, kc, yn, ldy, first, last, next); break;
        case 2: panel_tokens<2>(xk, T, K, panel, kc, yn, ldy, first, last, next); break;
        default: panel_tokens<1>(xk, T, K, panel, kc, yn, ldy, first, last, next); break;
      }
    }
  }
}

}  // namespace

void matmul_rows_packed_avx512(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1,
                               float* y, int64_t ldy) {
  switch (wt) {
    case DType::kF32: return packed_rows<DType::kF32>(x, T, K, w, n0, n1, y, ldy);
    case DType::kBF16: return packed_rows<DType::kBF16>(x, T, K, w, n0, n1, y, ldy);
    case DType::kF16: return packed_rows<DType::kF16>(x, T, K, w, n0, n1, y, ldy);
    default: return matmul_rows_scalar(x, T, K, wt, w, n0, n1, y, ldy);
  }
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
