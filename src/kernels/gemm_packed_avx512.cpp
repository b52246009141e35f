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

// The f32 kernel for packed_gemm_rows: panel[k][j] = W[n + j][k0 + k] widened to f32, x broadcast, one FMA.
template <DType WT>
struct WidenedPanels {
  using X = float;
  using Panel = float;
  using Vec = __m512;
  static constexpr int64_t kUnitBytes = WT == DType::kF32 ? 4 : 2;
  const void* w;
  int64_t K;
  const char* weights() const { return static_cast<const char*>(w); }
  int64_t row_bytes() const { return K * kUnitBytes; }
  void pack(int64_t n, int64_t rows, int64_t k0, int64_t kc, float* panel) const {
    for (int64_t j0 = 0; j0 < rows; j0 += 16) {
      prefetch_rows(weights() + ((n + j0 + 16) * K + k0) * kUnitBytes, row_bytes(), std::min<int64_t>(16, rows - j0 - 16),
                    kc * kUnitBytes);
      for (int64_t k = 0; k < kc; k += 16) {
        const int64_t width = std::min<int64_t>(16, kc - k);
        const __mmask16 m = static_cast<__mmask16>((1u << width) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = j0 + i < rows ? load_w16<WT>(w, (n + j0 + i) * K + k0 + k, m) : _mm512_setzero_ps();
        transpose16(r);
        for (int i = 0; i < width; ++i) _mm512_storeu_ps(panel + (k + i) * kPackedNr + j0, r[i]);
      }
    }
  }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec bcast(const float* x) { return _mm512_set1_ps(*x); }
  static __m512 madd(__m512 acc, Vec a, Vec b) { return _mm512_fmadd_ps(a, b, acc); }
};

template <DType WT>
void packed_rows(const float* x, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  packed_gemm_rows(WidenedPanels<WT>{w, K}, x, T, K, K, n0, n1, y, ldy);
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
