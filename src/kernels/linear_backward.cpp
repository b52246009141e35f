// Linear layer forward/backward and the f32 GEMM they share. Legend: N rows, K in features, M out features.
// The GEMM is a register-blocked loop (MR rows x 32 columns of C kept in registers) that the compiler
// vectorises (explicit fma: the build is ISO C++, which turns contraction off). The one body is compiled
// three times (AVX-512, AVX2+FMA, baseline) and chosen by active_isa(), like matmul: DM_ISA forces one
// and the tests run each against naive loops.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "devops_model/core/dtype.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops_backward.h"

namespace dm {

namespace {

constexpr int64_t kNr = 32;   // columns of C per micro tile
constexpr int64_t kMr = 8;    // rows of C per micro tile
constexpr int64_t kPc = 256;  // depth block, keeps a B panel (kPc x kNr) in L1/L2

// C tile (mr x kNr) += A(mr rows, p0..p1) * B(p0..p1, kNr cols). Full-width tiles only.
template <int MR>
__attribute__((always_inline)) inline void micro_full(const float* a, int64_t a_ms, int64_t a_ps, const float* b,
                                                      int64_t ldb, float* c, int64_t ldc, int64_t P) {
  float acc[MR][kNr];
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < kNr; ++j) acc[i][j] = c[i * ldc + j];
  for (int64_t p = 0; p < P; ++p) {
    const float* bp = b + p * ldb;
    for (int i = 0; i < MR; ++i) {
      const float av = a[i * a_ms + p * a_ps];
      for (int64_t j = 0; j < kNr; ++j) acc[i][j] = std::fma(av, bp[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < kNr; ++j) c[i * ldc + j] = acc[i][j];
}

// Edge tiles (fewer rows or columns): plain loops.
__attribute__((always_inline)) inline void micro_edge(const float* a, int64_t a_ms, int64_t a_ps, const float* b,
                                                      int64_t ldb, float* c, int64_t ldc, int64_t mr, int64_t nc,
                                                      int64_t P) {
  for (int64_t i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    for (int64_t p = 0; p < P; ++p) {
      const float av = a[i * a_ms + p * a_ps];
      const float* bp = b + p * ldb;
      for (int64_t j = 0; j < nc; ++j) ci[j] = std::fma(av, bp[j], ci[j]);
    }
  }
}

// Rows [m0, m1) of A (read as columns: a_ms == 1) over depth [p0, p0 + pc), copied to tiles of kMr rows laid
// out [tile][p][kMr] (the last tile zero-padded): the micro tiles then read A contiguously.
__attribute__((always_inline)) inline void pack_a_columns(const float* a, int64_t a_ps, int64_t m0, int64_t m1,
                                                          int64_t p0, int64_t pc, float* packed) {
  for (int64_t m = m0; m < m1; m += kMr) {
    const int64_t mr = std::min(kMr, m1 - m);
    float* dst = packed + (m - m0) * pc;
    for (int64_t p = 0; p < pc; ++p) {
      const float* src = a + m + (p0 + p) * a_ps;
      for (int64_t i = 0; i < kMr; ++i) dst[p * kMr + i] = i < mr ? src[i] : 0.f;
    }
  }
}

// The rows' tiles over one depth block: every column block, every row tile.
__attribute__((always_inline)) inline void gemm_block(const float* a, int64_t a_ms, int64_t a_ps, int64_t a_tile,
                                                      const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m0,
                                                      int64_t m1, int64_t Nc, int64_t pc) {
  for (int64_t j0 = 0; j0 < Nc; j0 += kNr) {
    const int64_t nc = std::min(kNr, Nc - j0);
    for (int64_t m = m0; m < m1; m += kMr) {
      const int64_t mr = std::min(kMr, m1 - m);
      const float* ap = a + (m - m0) / kMr * a_tile;
      float* cp = c + m * ldc + j0;
      if (mr == kMr && nc == kNr) micro_full<kMr>(ap, a_ms, a_ps, b + j0, ldb, cp, ldc, pc);
      else micro_edge(ap, a_ms, a_ps, b + j0, ldb, cp, ldc, mr, nc, pc);
    }
  }
}

constexpr int64_t kMc = 128;  // rows per packed A block: 128 x kPc floats = 128 KB, stays in L2

// A read as columns (dW += dy^T x): each micro tile would gather kPc strided rows again for every column
// block; packed once per (row block, depth block) instead. Same products in the same order as
// gemm_rows_body, so the result is bit-identical either way. (A separate function: inlined into the
// other, it cost the row-major path a sixth of its speed.)
__attribute__((always_inline)) inline void gemm_rows_packed_body(const float* a, int64_t, int64_t a_ps, const float* b,
                                                                 int64_t ldb, float* c, int64_t ldc, int64_t m0,
                                                                 int64_t m1, int64_t Nc, int64_t P) {
  thread_local std::vector<float> packed;
  packed.resize(static_cast<size_t>(kMc * kPc));
  for (int64_t p0 = 0; p0 < P; p0 += kPc) {
    const int64_t pc = std::min(kPc, P - p0);
    for (int64_t r0 = m0; r0 < m1; r0 += kMc) {
      const int64_t r1 = std::min(m1, r0 + kMc);
      pack_a_columns(a, a_ps, r0, r1, p0, pc, packed.data());
      gemm_block(packed.data(), 1, kMr, kMr * pc, b + p0 * ldb, ldb, c, ldc, r0, r1, Nc, pc);
    }
  }
}

__attribute__((always_inline)) inline void gemm_rows_body(const float* a, int64_t a_ms, int64_t a_ps, const float* b,
                                                          int64_t ldb, float* c, int64_t ldc, int64_t m0, int64_t m1,
                                                          int64_t Nc, int64_t P) {
  // Depth blocks in fixed order: the sum over p is always accumulated in the same sequence.
  for (int64_t p0 = 0; p0 < P; p0 += kPc) {
    const int64_t pc = std::min(kPc, P - p0);
    gemm_block(a + m0 * a_ms + p0 * a_ps, a_ms, a_ps, kMr * a_ms, b + p0 * ldb, ldb, c, ldc, m0, m1, Nc, pc);
  }
}

#define DM_GEMM_ROWS_ARGS                                                                                     \
  const float *a, int64_t a_ms, int64_t a_ps, const float *b, int64_t ldb, float *c, int64_t ldc, int64_t m0, \
      int64_t m1, int64_t Nc, int64_t P
#define DM_GEMM_ROWS(name, body, target)                                          \
  target void name(DM_GEMM_ROWS_ARGS) { body(a, a_ms, a_ps, b, ldb, c, ldc, m0, m1, Nc, P); }
DM_GEMM_ROWS(gemm_rows_avx512, gemm_rows_body, __attribute__((target("arch=x86-64-v4"))))
DM_GEMM_ROWS(gemm_rows_avx2, gemm_rows_body, __attribute__((target("avx2,fma"))))
DM_GEMM_ROWS(gemm_rows_scalar, gemm_rows_body, )
DM_GEMM_ROWS(gemm_rows_packed_avx512, gemm_rows_packed_body, __attribute__((target("arch=x86-64-v4"))))
DM_GEMM_ROWS(gemm_rows_packed_avx2, gemm_rows_packed_body, __attribute__((target("avx2,fma"))))
DM_GEMM_ROWS(gemm_rows_packed_scalar, gemm_rows_packed_body, )
#undef DM_GEMM_ROWS
#undef DM_GEMM_ROWS_ARGS

// dst (cols, rows) = src (rows, cols)^T over rows [r0, r1): 32 x 32 tiles (both sides touch whole cache
// lines), each as 8 x 8 blocks transposed in registers (AVX2) or element by element (the twin; edges).
__attribute__((target("avx2"))) void transpose_8x8_avx2(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

void transpose_rows(const float* src, int64_t rows, int64_t cols, float* dst, int64_t r0, int64_t r1, bool simd) {
  constexpr int64_t kTile = 32;
  for (int64_t m0 = r0; m0 < r1; m0 += kTile)
    for (int64_t k0 = 0; k0 < cols; k0 += kTile) {
      const int64_t m1 = std::min(r1, m0 + kTile), k1 = std::min(cols, k0 + kTile);
      for (int64_t k = k0; k < k1; k += 8)
        for (int64_t m = m0; m < m1; m += 8) {
          if (simd && k + 8 <= k1 && m + 8 <= m1) {
            transpose_8x8_avx2(src + m * cols + k, cols, dst + k * rows + m, rows);
            continue;
          }
          for (int64_t kk = k; kk < std::min(k1, k + 8); ++kk)
            for (int64_t mm = m; mm < std::min(m1, m + 8); ++mm) dst[kk * rows + mm] = src[mm * cols + kk];
        }
    }
}

// y (N, M) = bias in every row, or zeros.
void fill_bias_rows(const float* bias, int64_t N, int64_t M, float* y) {
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t m = 0; m < M; ++m) y[n * M + m] = bias ? bias[m] : 0.f;
  });
}

}  // namespace

void gemm_acc(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c, int64_t ldc,
              int64_t Mr, int64_t Nc, int64_t P) {
  if (Mr <= 0 || Nc <= 0 || P <= 0) return;
  // Partition rows of C in whole micro tiles; each worker owns its rows (no shared writes).
  const int64_t tiles = (Mr + kMr - 1) / kMr;
  const Isa isa = active_isa();
  const bool packed = a_ms == 1 && a_ps != 1;
  auto* rows = isa >= Isa::kAvx512 ? (packed ? gemm_rows_packed_avx512 : gemm_rows_avx512)
               : isa == Isa::kAvx2 ? (packed ? gemm_rows_packed_avx2 : gemm_rows_avx2)
                                   : (packed ? gemm_rows_packed_scalar : gemm_rows_scalar);
  parallel_for(tiles, [&](int64_t t0, int64_t t1) {
    rows(a, a_ms, a_ps, b, ldb, c, ldc, t0 * kMr, std::min(Mr, t1 * kMr), Nc, P);
  });
}

void transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  const bool simd = active_isa() >= Isa::kAvx2;
  constexpr int64_t kTile = 32;
  parallel_for((rows + kTile - 1) / kTile, [&](int64_t b0, int64_t b1) {
    transpose_rows(src, rows, cols, dst, b0 * kTile, std::min(rows, b1 * kTile), simd);
  });
}

void linear_forward(const float* x, const float* w, const float* bias, int64_t N, int64_t K, int64_t M, float* y,
                    GemmPrecision precision) {
  // Few rows (decode-like): the inference kernel streams W once. Many rows (training batches): W^T once
  // (M*K copies for N*M*K multiply-adds) and the training GEMM's wider register tile.
  if (N < 64 && precision == GemmPrecision::kF32) {
    TensorView wv{DType::kF32, {M, K}, w};
    TensorView bv;
    if (bias) bv = TensorView{DType::kF32, {M}, bias};
    matmul(x, N, wv, bv, y);
    return;
  }
  const bool bf16_direct = precision == GemmPrecision::kBF16 && gemm_bf16_native();  // packs from W itself
  if (bf16_direct) {
    fill_bias_rows(bias, N, M, y);
    gemm_acc_bf16_bt(x, K, w, K, y, M, N, M, K);
    return;
  }
  thread_local std::vector<float> caller_wt;  // the workers reach the caller's buffer through `wt`
  caller_wt.resize(static_cast<size_t>(K * M));
  float* wt = caller_wt.data();
  transpose(w, M, K, wt);
  fill_bias_rows(bias, N, M, y);
  (precision == GemmPrecision::kBF16 ? gemm_acc_bf16 : gemm_acc)(x, K, 1, wt, M, y, M, N, M, K);
}

void linear_backward(const float* dy, const float* x, const float* w, int64_t N, int64_t K, int64_t M, float* dx,
                     float* dw, float* dbias, GemmPrecision precision) {
  auto* gemm = precision == GemmPrecision::kBF16 ? gemm_acc_bf16 : gemm_acc;
  // dx (N, K) += dy (N, M) . W (M, K)
  if (dx) gemm(dy, M, 1, w, K, dx, K, N, K, M);
  // dw (M, K) += dy^T (M, N) . x (N, K)
  if (dw) gemm(dy, 1, M, x, K, dw, K, M, K, N);
  if (dbias) {
    parallel_for(M, [&](int64_t m0, int64_t m1) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = m0; m < m1; ++m) dbias[m] += dy[n * M + m];
    });
  }
}

void linear_backward_input(const float* dy, const TensorView& w, int64_t N, float* dx) {
  const int64_t M = w.shape[0], K = w.shape[1];
  if (w.dtype == DType::kF32) {
    gemm_acc(dy, M, 1, w.f32(), K, dx, K, N, K, M);
    return;
  }
  // Tiles of about 2 MiB of f32 rows: converted in parallel, then dx += dy[:, rows] . tile.
  const int64_t rows = std::clamp<int64_t>((int64_t{2} << 20) / (K * 4), 1, M);
  std::vector<float> tile(static_cast<size_t>(rows * K));
  for (int64_t m0 = 0; m0 < M; m0 += rows) {
    const int64_t R = std::min(rows, M - m0);
    parallel_for(R, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        convert_to_f32(w.dtype, w.rows(m0 + r, 1).data, tile.data() + r * K, static_cast<size_t>(K));
    });
    gemm_acc(dy + m0, M, 1, tile.data(), K, dx, K, N, K, R);
  }
}

}  // namespace dm
