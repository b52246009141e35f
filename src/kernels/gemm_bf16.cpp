// gemm_acc with bf16 operands (training's --bf16): A and B rounded to bf16 (nearest even), products summed in
// f32. On AVX512-BF16 CPUs both are packed into bf16 pairs (A: 8 rows per tile, per worker; B: 32-column
// panels with rows p and p+1 interleaved, once per call for all workers, from B or from its transpose) and
// multiplied with vdpbf16ps, two multiply-adds per lane per instruction.
// Elsewhere the twin runs: gemm_acc over rounded f32 copies (the same products; another summation order).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "devops_model/core/dtype.h"
#include "devops_model/core/error.h"
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

// On AVX512-BF16 the conversions are vcvtneps2bf16: nearest-even like f32_to_bf16, except that f32
// denormal inputs (below 1.2e-38) become zero there; the scalar edge loops keep them.
#define DM_BF16 __attribute__((target("arch=x86-64-v4,avx512bf16")))

// 16 f32 -> 16 bf16 widened to the low halves of 16 u32 lanes. (The maskz forms of the widening and the
// shifts below: GCC 12's unmasked ones pass an undefined vector that -Wmaybe-uninitialized flags.)
DM_BF16 inline __m512i bf16_lanes(__m512 x) {
  return _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(x));
}

// One B panel of a depth block: per pair q, 32 columns of (B(p, j), B(p+1, j)), p = p0 + 2q; missing columns
// and an odd tail are zeros.
DM_BF16 void pack_b_panel(const float* b, int64_t ldb, int64_t p0, int64_t pc, int64_t j0, int64_t nc, uint32_t* dst) {
  const __mmask16 lo_mask = static_cast<__mmask16>(nc >= 16 ? 0xffff : (1u << nc) - 1);
  const __mmask16 hi_mask = static_cast<__mmask16>(nc <= 16 ? 0 : nc >= 32 ? 0xffff : (1u << (nc - 16)) - 1);
  for (int64_t q = 0; q < (pc + 1) / 2; ++q) {
    const float* r0 = b + (p0 + 2 * q) * ldb + j0;
    const bool has_r1 = 2 * q + 1 < pc;
    for (int h = 0; h < 2; ++h) {
      const __mmask16 mask = h ? hi_mask : lo_mask;
      const __m512i lo = bf16_lanes(_mm512_maskz_loadu_ps(mask, r0 + 16 * h));
      const __m512i hi = has_r1 ? bf16_lanes(_mm512_maskz_loadu_ps(mask, r0 + ldb + 16 * h)) : _mm512_setzero_si512();
      _mm512_store_si512(dst + q * kNr + 16 * h, _mm512_or_si512(lo, _mm512_maskz_slli_epi32(0xffff, hi, 16)));
    }
  }
}

// pc consecutive values of one row as its (pc + 1) / 2 pairs, pair q at dst[q * stride] (an odd tail pairs
// with zero): 32 values are 16 pairs in order, converted at once and scattered to their slots.
DM_BF16 void pack_row_pairs(const float* row, int64_t pc, int64_t stride, uint32_t* dst) {
  const __m512i slots = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(static_cast<int>(stride)));
  int64_t q = 0;
  for (; 2 * q + 32 <= pc; q += 16) {
    const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + 2 * q + 16), _mm512_loadu_ps(row + 2 * q));
    _mm512_i32scatter_epi32(dst + q * stride, slots, v, 4);
  }
  for (; q < (pc + 1) / 2; ++q) dst[q * stride] = pair(row[2 * q], 2 * q + 1 < pc ? row[2 * q + 1] : 0.f);
}

// The same panel from B's transpose W (B(p, j) = W(j, p), W row-major with leading dimension ldw): each of the
// panel's columns is a run of one W row, 32 values = 16 pairs in order, scattered to their pairs' slots.
DM_BF16 void pack_bt_panel(const float* w, int64_t ldw, int64_t p0, int64_t pc, int64_t j0, int64_t nc, uint32_t* dst) {
  std::fill(dst, dst + (pc + 1) / 2 * kNr, 0u);  // missing columns
  for (int64_t j = 0; j < nc; ++j) pack_row_pairs(w + (j0 + j) * ldw + p0, pc, kNr, dst + j);
}

// Rows [m0, m1) of A over one depth block: per tile of 8 rows, per pair q, the rows' (A(m, p), A(m, p+1));
// missing rows and an odd tail are zeros.
DM_BF16 void pack_a_block(const float* a, int64_t a_ms, int64_t a_ps, int64_t m0, int64_t m1, int64_t p0, int64_t pc,
                          uint32_t* dst) {
  const int64_t tiles = (m1 - m0 + kMr - 1) / kMr, pairs = (pc + 1) / 2;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t mt = m0 + t * kMr, rows = std::min(kMr, m1 - mt);
    uint32_t* at = dst + t * pairs * kMr;
    if (a_ms == 1) {  // A as columns (dW): each pair is two runs of 8 consecutive rows
      const __mmask8 rmask = static_cast<__mmask8>((1u << rows) - 1);
      for (int64_t q = 0; q < pairs; ++q) {
        const float* r0 = a + mt + (p0 + 2 * q) * a_ps;
        const __m128i lo = (__m128i)_mm256_cvtneps_pbh(_mm256_maskz_loadu_ps(rmask, r0));
        const __m128i hi = 2 * q + 1 < pc ? (__m128i)_mm256_cvtneps_pbh(_mm256_maskz_loadu_ps(rmask, r0 + a_ps))
                                          : _mm_setzero_si128();
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(at + q * kMr), _mm256_or_si256(_mm256_maskz_cvtepu16_epi32(0xff, lo),
                                                                  _mm256_maskz_slli_epi32(0xff, _mm256_maskz_cvtepu16_epi32(0xff, hi), 16)));
      }
      continue;
    }
    // A as rows: each row's run of pc values (missing rows and any other layout pair by pair below).
    for (int64_t i = 0; i < kMr; ++i) {
      if (i < rows && a_ps == 1) {
        pack_row_pairs(a + (mt + i) * a_ms + p0, pc, kMr, at + i);
        continue;
      }
      for (int64_t q = 0; q < pairs; ++q) {
        const int64_t p = p0 + 2 * q;
        const float lo = i < rows ? a[(mt + i) * a_ms + p * a_ps] : 0.f;
        const float hi = i < rows && 2 * q + 1 < pc ? a[(mt + i) * a_ms + (p + 1) * a_ps] : 0.f;
        at[q * kMr + i] = pair(lo, hi);
      }
    }
  }
}

// Rows [m0, m1) of C against the packed B (all panels of all depth blocks, `panels` per block).
DM_BF16 void gemm_rows_bf16_avx512(const float* a, int64_t a_ms, int64_t a_ps, const uint32_t* bpk, int64_t panels,
                                   float* c, int64_t ldc, int64_t m0, int64_t m1, int64_t Nc, int64_t P) {
  const int64_t tiles = (m1 - m0 + kMr - 1) / kMr;
  thread_local std::vector<uint32_t> ap;  // kept: a fresh buffer per call would fault its pages in each time
  ap.resize(static_cast<size_t>(tiles * kMr * (kPc / 2)));
  for (int64_t p0 = 0; p0 < P; p0 += kPc) {
    const int64_t pc = std::min(kPc, P - p0), pairs = (pc + 1) / 2;
    pack_a_block(a, a_ms, a_ps, m0, m1, p0, pc, ap.data());
    for (int64_t j0 = 0; j0 < Nc; j0 += kNr) {
      const int64_t nc = std::min(kNr, Nc - j0);
      const uint32_t* bp = bpk + ((p0 / kPc) * panels + j0 / kNr) * (kPc / 2) * kNr;
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

namespace {

// The native GEMM: B's panels packed once, by all workers, for all of them (each used to convert the whole
// of B for itself), then each worker's rows. pack(p0, pc, j0, nc, dst) packs one panel.
template <typename PackPanel>
void gemm_bf16_native_rows(const float* a, int64_t a_ms, int64_t a_ps, float* c, int64_t ldc, int64_t Mr,
                           int64_t Nc, int64_t P, const PackPanel& pack) {
  const int64_t panels = (Nc + kNr - 1) / kNr, blocks = (P + kPc - 1) / kPc, panel = (kPc / 2) * kNr;
  thread_local std::vector<uint32_t> caller_bpk;  // workers reach it through bpk; kept across calls
  caller_bpk.resize(static_cast<size_t>(blocks * panels * panel + 16));
  const auto addr = reinterpret_cast<uintptr_t>(caller_bpk.data());
  uint32_t* bpk = caller_bpk.data() + (64 - addr % 64) % 64 / 4;  // 64-byte aligned: the kernel's aligned loads
  parallel_for(blocks * panels, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t p0 = i / panels * kPc, j0 = i % panels * kNr;
      pack(p0, std::min(kPc, P - p0), j0, std::min(kNr, Nc - j0), bpk + i * panel);
    }
  });
  const int64_t tiles = (Mr + kMr - 1) / kMr;
  parallel_for(tiles, [&](int64_t t0, int64_t t1) {
    gemm_rows_bf16_avx512(a, a_ms, a_ps, bpk, panels, c, ldc, t0 * kMr, std::min(Mr, t1 * kMr), Nc, P);
  });
}

}  // namespace

void gemm_acc_bf16(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c, int64_t ldc,
                   int64_t Mr, int64_t Nc, int64_t P) {
  if (Mr <= 0 || Nc <= 0 || P <= 0) return;
  if (!gemm_bf16_native()) return gemm_acc_bf16_twin(a, a_ms, a_ps, b, ldb, c, ldc, Mr, Nc, P);
  gemm_bf16_native_rows(a, a_ms, a_ps, c, ldc, Mr, Nc, P,
                        [&](int64_t p0, int64_t pc, int64_t j0, int64_t nc, uint32_t* dst) {
                          pack_b_panel(b, ldb, p0, pc, j0, nc, dst);
                        });
}

void gemm_acc_bf16_bt(const float* a, int64_t lda, const float* w, int64_t ldw, float* c, int64_t ldc, int64_t Mr,
                      int64_t Nc, int64_t P) {
  DM_CHECK(gemm_bf16_native());
  if (Mr <= 0 || Nc <= 0 || P <= 0) return;
  gemm_bf16_native_rows(a, lda, 1, c, ldc, Mr, Nc, P, [&](int64_t p0, int64_t pc, int64_t j0, int64_t nc, uint32_t* dst) {
    pack_bt_panel(w, ldw, p0, pc, j0, nc, dst);
  });
}

}  // namespace dm
