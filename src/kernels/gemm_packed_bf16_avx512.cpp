// AVX512-BF16 prefill GEMM for BF16 weights: y = x W^T with x rounded to bf16 (nearest even), as llama.cpp
// rounds the activations of its bf16 matmuls, and each product of two bf16 exact in f32 (vdpbf16ps: two
// multiply-adds per lane per instruction, twice the f32 FMA's). Same blocking as gemm_packed_avx512.cpp:
// W packed 64 rows at a time, one depth block of 128 pairs at a time, into an L1 panel [pair][64] of
// (W[n][k], W[n][k+1]) pairs (bf16 rows are pairs already: a 16 x 16 transpose of 32-bit words), a register
// tile of 6 tokens x 64 outputs broadcasting the tokens' pairs. The twin: matmul_rows_bf16_pairs_scalar.
// Shape legend: x (T, K) as pairs xb (T, K / 2), W (N, K) bf16, y (T, N) with row stride ldy.
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "devops_model/core/dtype.h"
#include "kernels/matmul_isa.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")
#endif

#include "kernels/packed_panel_avx512.h"

namespace dm::kernels {

namespace {

constexpr int kMr = 6;        // tokens per register tile
constexpr int64_t kNr = 64;   // outputs per panel (4 vectors)
constexpr int64_t kQc = 128;  // pairs per depth block: a panel is 128 x 64 pairs = 32 KiB, inside L1

// panel[q][j] = the pair (W[n + j][k0 + 2q], W[n + j][k0 + 2q + 1]) for q < qc; rows past `rows` are zeros.
void pack_pairs(const uint16_t* w, int64_t K, int64_t n, int64_t rows, int64_t k0, int64_t qc, uint32_t* panel) {
  for (int64_t j0 = 0; j0 < rows; j0 += 16) {
    for (int64_t q = 0; q < qc; q += 16) {
      const int64_t width = std::min<int64_t>(16, qc - q);
      const __mmask16 m = static_cast<__mmask16>((1u << width) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = j0 + i < rows ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(m, w + (n + j0 + i) * K + k0 + 2 * q))
                             : _mm512_setzero_ps();
      transpose16(r);
      for (int i = 0; i < width; ++i) _mm512_storeu_ps(reinterpret_cast<float*>(panel + (q + i) * kNr + j0), r[i]);
    }
  }
}

// y[t][0..16 NV) (+)= pairs of x[t] . panel for MR tokens; the last vector stores only `last` lanes.
template <int MR, int NV>
void micro_tile(const uint32_t* xb, int64_t ldx, const uint32_t* panel, int64_t qc, float* y, int64_t ldy, bool first,
                __mmask16 last) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      acc[i][v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + i * ldy + 16 * v);
    }
  for (int64_t q = 0; q < qc; ++q) {
    __m512bh b[NV];
    for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(panel + q * kNr + 16 * v);
    for (int i = 0; i < MR; ++i) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(xb[i * ldx + q]));
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, b[v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      _mm512_mask_storeu_ps(y + i * ldy + 16 * v, m, acc[i][v]);
    }
}

template <int NV>
void panel_tokens(const uint32_t* xb, int64_t T, int64_t ldx, const uint32_t* panel, int64_t qc, float* y, int64_t ldy,
                  bool first, __mmask16 last, const NextBlock& next) {
  const int64_t tiles = (T + kMr - 1) / kMr;
  int64_t t = 0;
  for (; t + kMr <= T; t += kMr) {
    next.prefetch_slice(t / kMr, tiles);
    micro_tile<kMr, NV>(xb + t * ldx, ldx, panel, qc, y + t * ldy, ldy, first, last);
  }
  if (t == T) return;
  next.prefetch_slice(tiles - 1, tiles);
  const uint32_t* xt = xb + t * ldx;
  float* yt = y + t * ldy;
  switch (T - t) {
    case 5: return micro_tile<5, NV>(xt, ldx, panel, qc, yt, ldy, first, last);
    case 4: return micro_tile<4, NV>(xt, ldx, panel, qc, yt, ldy, first, last);
    case 3: return micro_tile<3, NV>(xt, ldx, panel, qc, yt, ldy, first, last);
    case 2: return micro_tile<2, NV>(xt, ldx, panel, qc, yt, ldy, first, last);
    default: return micro_tile<1, NV>(xt, ldx, panel, qc, yt, ldy, first, last);
  }
}

}  // namespace

void round_acts_bf16_pairs_avx512(const float* x, int64_t n, uint32_t* dst) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    _mm512_storeu_si512(dst + i / 2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
  for (; i < n; i += 2)
    dst[i / 2] = f32_to_bf16(x[i]) | static_cast<uint32_t>(i + 1 < n ? f32_to_bf16(x[i + 1]) : 0) << 16;
}

void matmul_rows_bf16_pairs_avx512(const uint32_t* xb, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1,
                                   float* y, int64_t ldy) {
  const auto* wb = static_cast<const uint16_t*>(w);
  const int64_t ldx = K / 2, pairs = K / 2;
  thread_local std::vector<uint32_t> panel_buf;
  panel_buf.resize(static_cast<size_t>(kQc * kNr));
  uint32_t* panel = panel_buf.data();
  for (int64_t n = n0; n < n1; n += kNr) {
    const int64_t rows = std::min(kNr, n1 - n);
    const int nv = static_cast<int>((rows + 15) / 16);
    const __mmask16 last = rows % 16 ? static_cast<__mmask16>((1u << (rows % 16)) - 1) : static_cast<__mmask16>(0xFFFF);
    for (int64_t q0 = 0; q0 < pairs; q0 += kQc) {
      const int64_t qc = std::min(kQc, pairs - q0);
      pack_pairs(wb, K, n, rows, 2 * q0, qc, panel);
      NextBlock next;  // this panel's next depth block, or the next panel's first
      const int64_t next_n = q0 + kQc < pairs ? n : n + kNr, next_q = q0 + kQc < pairs ? q0 + kQc : 0;
      if (next_n < n1) {
        next.base = reinterpret_cast<const char*>(wb + next_n * K + 2 * next_q);
        next.row_stride = K * 2;
        next.lines_per_row = (std::min(kQc, pairs - next_q) * 4 + 63) / 64;
        next.rows = std::min(kNr, n1 - next_n);
      }
      const uint32_t* xq = xb + q0;
      float* yn = y + n;
      const bool first = q0 == 0;
      switch (nv) {
        case 4: panel_tokens<4>(xq, T, ldx, panel, qc, yn, ldy, first, last, next); break;
        case 3: panel_tokens<3>(xq, T, ldx, panel, qc, yn, ldy, first, last, next); break;
        case 2: panel_tokens<2>(xq, T, ldx, panel, qc, yn, ldy, first, last, next); break;
        default: panel_tokens<1>(xq, T, ldx, panel, qc, yn, ldy, first, last, next); break;
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
