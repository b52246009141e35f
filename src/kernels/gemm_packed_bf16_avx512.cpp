// AVX512-BF16 prefill GEMM for BF16 weights: y = x W^T with x rounded to bf16 (nearest even), as llama.cpp
// rounds the activations of its bf16 matmuls, and each product of two bf16 exact in f32 (vdpbf16ps: two
// multiply-adds per lane per instruction, twice the f32 FMA's), on the packed driver (packed_panel_avx512.h):
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

// The bf16 kernel for packed_gemm_rows: panel[q][j] = the pair (W[n + j][2q], W[n + j][2q + 1]) (bf16 rows are
// pairs already: a 16 x 16 transpose of 32-bit words), x's pair broadcast, one vdpbf16ps.
struct PairPanels {
  using X = uint32_t;
  using Panel = uint32_t;
  using Vec = __m512bh;
  static constexpr int64_t kUnitBytes = 4;
  const uint16_t* w;
  int64_t K;
  const char* weights() const { return reinterpret_cast<const char*>(w); }
  int64_t row_bytes() const { return K * 2; }
  void pack(int64_t n, int64_t rows, int64_t q0, int64_t qc, uint32_t* panel) const {
    for (int64_t j0 = 0; j0 < rows; j0 += 16) {
      prefetch_rows(weights() + ((n + j0 + 16) * K + 2 * q0) * 2, row_bytes(), std::min<int64_t>(16, rows - j0 - 16),
                    qc * kUnitBytes);
      for (int64_t q = 0; q < qc; q += 16) {
        const int64_t width = std::min<int64_t>(16, qc - q);
        const __mmask16 m = static_cast<__mmask16>((1u << width) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = j0 + i < rows
                     ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(m, w + (n + j0 + i) * K + 2 * (q0 + q)))
                     : _mm512_setzero_ps();
        transpose16(r);
        for (int i = 0; i < width; ++i)
          _mm512_storeu_ps(reinterpret_cast<float*>(panel + (q + i) * kPackedNr + j0), r[i]);
      }
    }
  }
  static Vec load(const uint32_t* p) { return (__m512bh)_mm512_loadu_si512(p); }
  static Vec bcast(const uint32_t* x) { return (__m512bh)_mm512_set1_epi32(static_cast<int>(*x)); }
  static __m512 madd(__m512 acc, Vec a, Vec b) { return _mm512_dpbf16_ps(acc, a, b); }
};

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
  packed_gemm_rows(PairPanels{static_cast<const uint16_t*>(w), K}, xb, T, K / 2, K / 2, n0, n1, y, ldy);
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
