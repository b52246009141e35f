// Linear layer forward/backward and the f32 GEMM they share. Legend: N rows, K in features, M out features.
// The GEMM is a register-blocked loop (MR rows x 32 columns of C kept in registers) that the compiler
// vectorises (explicit fma: the build is ISO C++, which turns contraction off). The one body is compiled
// three times (AVX-512, AVX2+FMA, baseline) and chosen by active_isa(), like matmul: DM_ISA forces one
// and the tests run each against naive loops.
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

__attribute__((always_inline)) inline void gemm_rows_body(const float* a, int64_t a_ms, int64_t a_ps, const float* b,
                                                          int64_t ldb, float* c, int64_t ldc, int64_t m0, int64_t m1,
                                                          int64_t Nc, int64_t P) {
  // Depth blocks in fixed order: the sum over p is always accumulated in the same sequence.
  for (int64_t p0 = 0; p0 < P; p0 += kPc) {
    const int64_t pc = std::min(kPc, P - p0);
    for (int64_t j0 = 0; j0 < Nc; j0 += kNr) {
      const int64_t nc = std::min(kNr, Nc - j0);
      for (int64_t m = m0; m < m1; m += kMr) {
        const int64_t mr = std::min(kMr, m1 - m);
        const float* ap = a + m * a_ms + p0 * a_ps;
        const float* bp = b + p0 * ldb + j0;
        float* cp = c + m * ldc + j0;
        if (mr == kMr && nc == kNr) micro_full<kMr>(ap, a_ms, a_ps, bp, ldb, cp, ldc, pc);
        else micro_edge(ap, a_ms, a_ps, bp, ldb, cp, ldc, mr, nc, pc);
      }
    }
  }
}

#define DM_GEMM_ROWS_ARGS                                                                                     \
  const float *a, int64_t a_ms, int64_t a_ps, const float *b, int64_t ldb, float *c, int64_t ldc, int64_t m0, \
      int64_t m1, int64_t Nc, int64_t P
__attribute__((target("arch=x86-64-v4"))) void gemm_rows_avx512(DM_GEMM_ROWS_ARGS) {
  gemm_rows_body(a, a_ms, a_ps, b, ldb, c, ldc, m0, m1, Nc, P);
}
__attribute__((target("avx2,fma"))) void gemm_rows_avx2(DM_GEMM_ROWS_ARGS) {
  gemm_rows_body(a, a_ms, a_ps, b, ldb, c, ldc, m0, m1, Nc, P);
}
void gemm_rows_scalar(DM_GEMM_ROWS_ARGS) { gemm_rows_body(a, a_ms, a_ps, b, ldb, c, ldc, m0, m1, Nc, P); }
#undef DM_GEMM_ROWS_ARGS

}  // namespace

void gemm_acc(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c, int64_t ldc,
              int64_t Mr, int64_t Nc, int64_t P) {
  if (Mr <= 0 || Nc <= 0 || P <= 0) return;
  // Partition rows of C in whole micro tiles; each worker owns its rows (no shared writes).
  const int64_t tiles = (Mr + kMr - 1) / kMr;
  const Isa isa = active_isa();
  auto* rows = isa >= Isa::kAvx512 ? gemm_rows_avx512 : isa == Isa::kAvx2 ? gemm_rows_avx2 : gemm_rows_scalar;
  parallel_for(tiles, [&](int64_t t0, int64_t t1) {
    rows(a, a_ms, a_ps, b, ldb, c, ldc, t0 * kMr, std::min(Mr, t1 * kMr), Nc, P);
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
  thread_local std::vector<float> caller_wt;  // the workers reach the caller's buffer through `wt`
  caller_wt.resize(static_cast<size_t>(K * M));
  float* wt = caller_wt.data();
  constexpr int64_t kTile = 32;  // transposed in 32 x 32 tiles: both sides touch whole cache lines
  parallel_for((M + kTile - 1) / kTile, [&](int64_t b0, int64_t b1) {
    for (int64_t m0 = b0 * kTile; m0 < std::min(M, b1 * kTile); m0 += kTile)
      for (int64_t k0 = 0; k0 < K; k0 += kTile)
        for (int64_t k = k0; k < std::min(K, k0 + kTile); ++k)
          for (int64_t m = m0; m < std::min(M, m0 + kTile); ++m) wt[k * M + m] = w[m * K + k];
  });
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t m = 0; m < M; ++m) y[n * M + m] = bias ? bias[m] : 0.f;
  });
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
