// gemm_acc with bf16 operands (training's --bf16): A and B rounded to bf16 (nearest even), products summed in
// f32. On AVX512-BF16 CPUs both are packed into bf16 pairs (A: 8 rows per tile, B: 32-column panels with
// rows p and p+1 interleaved) and multiplied with vdpbf16ps, two multiply-adds per lane per instruction.
// Elsewhere the twin runs: gemm_acc over rounded f32 copies (the same products; another summation order).
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "devops_model/core/dtype.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops_backward.h"

namespace dm {

namespace {

constexpr int64_t kMr = 8;    // rows of C per micro tile
constexpr int64_t kNr = 32;   // columns of C per micro tile (two 16-lane vectors)
constexpr int64_t kPc = 256;  // depth block (even), as gemm_acc's

inline float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }

inline uint32_t pair(float lo, float hi) { return f32_to_bf16(lo) | (static_cast<uint32_t>(f32_to_bf16(hi)) << 16); }

#define DM_GEMM_ARGS                                                                                          \
  const float *a, int64_t a_ms, int64_t a_ps, const float *b, int64_t ldb, float *c, int64_t ldc, int64_t m0, \
      int64_t m1, int64_t Nc, int64_t P

// Rows m0..m1 of C on AVX512-BF16.
__attribute__((target("arch=x86-64-v4,avx512bf16"))) void gemm_rows_bf16_avx512(DM_GEMM_ARGS) {
  const int64_t tiles = (m1 - m0 + kMr - 1) / kMr;
  std::vector<uint32_t> ap(static_cast<size_t>(tiles * kMr * (kPc / 2)));
  alignas(64) uint32_t bp[(kPc / 2) * kNr];
  for (int64_t p0 = 0; p0 < P; p0 += kPc) {
    const int64_t pc = std::min(kPc, P - p0), pairs = (pc + 1) / 2;
    // A: per tile, per pair, the 8 rows' (A(m, p), A(m, p+1)); missing rows and an odd tail are zeros.
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t q = 0; q < pairs; ++q)
        for (int64_t i = 0; i < kMr; ++i) {
          const int64_t m = m0 + t * kMr + i, p = p0 + 2 * q;
          const float lo = m < m1 ? a[m * a_ms + p * a_ps] : 0.f;
          const float hi = m < m1 && p + 1 < p0 + pc ? a[m * a_ms + (p + 1) * a_ps] : 0.f;
          ap[static_cast<size_t>((t * pairs + q) * kMr + i)] = pair(lo, hi);
        }
    for (int64_t j0 = 0; j0 < Nc; j0 += kNr) {
      const int64_t nc = std::min(kNr, Nc - j0);
      // B panel: per pair, 32 columns of (B(p, j), B(p+1, j)); missing columns and an odd tail are zeros.
      for (int64_t q = 0; q < pairs; ++q) {
        const int64_t p = p0 + 2 * q;
        const float* r0 = b + p * ldb + j0;
        const float* r1 = p + 1 < p0 + pc ? r0 + ldb : nullptr;
        for (int64_t j = 0; j < kNr; ++j)
          bp[q * kNr + j] = j < nc ? pair(r0[j], r1 ? r1[j] : 0.f) : 0u;
      }
      const __mmask16 lo_mask = static_cast<__mmask16>(nc >= 16 ? 0xffff : (1u << nc) - 1);
      const __mmask16 hi_mask = static_cast<__mmask16>(nc <= 16 ? 0 : nc >= 32 ? 0xffff : (1u << (nc - 16)) - 1);
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t rows = std::min(kMr, m1 - (m0 + t * kMr));
        float* ct = c + (m0 + t * kMr) * ldc + j0;
        __m512 acc[kMr][2];
        for (int64_t i = 0; i < kMr; ++i) {
          acc[i][0] = i < rows ? _mm512_maskz_loadu_ps(lo_mask, ct + i * ldc) : _mm512_setzero_ps();
          acc[i][1] = i < rows ? _mm512_maskz_loadu_ps(hi_mask, ct + i * ldc + 16) : _mm512_setzero_ps();
        }
        const uint32_t* at = ap.data() + t * pairs * kMr;
        for (int64_t q = 0; q < pairs; ++q) {
          const __m512bh b0 = (__m512bh)_mm512_load_si512(bp + q * kNr);
          const __m512bh b1 = (__m512bh)_mm512_load_si512(bp + q * kNr + 16);
#pragma GCC unroll 8
          for (int64_t i = 0; i < kMr; ++i) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(at[q * kMr + i]));
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
          }
        }
        for (int64_t i = 0; i < rows; ++i) {
          _mm512_mask_storeu_ps(ct + i * ldc, lo_mask, acc[i][0]);
          _mm512_mask_storeu_ps(ct + i * ldc + 16, hi_mask, acc[i][1]);
        }
      }
    }
  }
}
#undef DM_GEMM_ARGS

}  // namespace

bool gemm_bf16_native() {
  static const bool cpu = __builtin_cpu_supports("avx512bf16") != 0;
  return cpu && active_isa() >= Isa::kAvx512;
}

void gemm_acc_bf16_twin(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c,
                        int64_t ldc, int64_t Mr, int64_t Nc, int64_t P) {
  if (Mr <= 0 || Nc <= 0 || P <= 0) return;
  std::vector<float> ar(static_cast<size_t>(Mr * P)), br(static_cast<size_t>(P * Nc));
  parallel_for(Mr, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t p = 0; p < P; ++p) ar[static_cast<size_t>(m * P + p)] = bf16_round(a[m * a_ms + p * a_ps]);
  });
  parallel_for(P, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t j = 0; j < Nc; ++j) br[static_cast<size_t>(p * Nc + j)] = bf16_round(b[p * ldb + j]);
  });
  gemm_acc(ar.data(), P, 1, br.data(), Nc, c, ldc, Mr, Nc, P);
}

void gemm_acc_bf16(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c, int64_t ldc,
                   int64_t Mr, int64_t Nc, int64_t P) {
  if (Mr <= 0 || Nc <= 0 || P <= 0) return;
  if (!gemm_bf16_native()) return gemm_acc_bf16_twin(a, a_ms, a_ps, b, ldb, c, ldc, Mr, Nc, P);
  const int64_t tiles = (Mr + kMr - 1) / kMr;
  parallel_for(tiles, [&](int64_t t0, int64_t t1) {
    gemm_rows_bf16_avx512(a, a_ms, a_ps, b, ldb, c, ldc, t0 * kMr, std::min(Mr, t1 * kMr), Nc, P);
  });
}

}  // namespace dm
