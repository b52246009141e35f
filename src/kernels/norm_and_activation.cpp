// RMSNorm, embedding lookup, SwiGLU and softmax (forward). Plain loops the compiler vectorises (SwiGLU's exp
// per ISA: kernels/forward_exp_isa.h); rows are split over the workers only when there is enough work to pay
// for a parallel region (decode has one row).
#include <cmath>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops.h"
#include "kernels/forward_exp_isa.h"

namespace dm {

namespace {

constexpr int64_t kParallelMin = int64_t{1} << 15;  // elements below which one thread does it all

template <typename Fn>
void for_rows(int64_t rows, int64_t row_elems, Fn&& fn) {
  if (rows * row_elems < kParallelMin) {
    fn(int64_t{0}, rows);
    return;
  }
  parallel_for(rows, fn);
}

}  // namespace

void rmsnorm(const float* x, int64_t T, int64_t C, const TensorView& w, float eps, float* out, float* rstd) {
  DM_CHECK(w.numel() == C, "norm weight size");
  std::vector<float> converted;
  const float* wf = w.f32();
  if (w.dtype != DType::kF32) {
    converted = w.to_f32();
    wf = converted.data();
  }
  for_rows(T, C, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = x + t * C;
      float* o = out + t * C;
      double ss = 0.0;  // double: the mean of squares of 4096 values loses bits in f32
      for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(xr[c]) * xr[c];
      const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(C) + eps));
      if (rstd) rstd[t] = r;
      for (int64_t c = 0; c < C; ++c) o[c] = wf[c] * (xr[c] * r);
    }
  });
}

void embed_rows(const TensorView& table, const int32_t* ids, int64_t T, float* out) {
  const int64_t V = table.shape[0], C = table.shape[1];
  for (int64_t t = 0; t < T; ++t)
    if (ids[t] < 0 || ids[t] >= V)
      fail(ErrorKind::kInvalidArgument, "token id ", ids[t], " outside the vocabulary [0, ", V, ")");
  for_rows(T, C, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      TensorView row = table.rows(ids[t], 1);
      convert_to_f32(table.dtype, row.data, out + t * C, static_cast<size_t>(C));
    }
  });
}

namespace kernels {
void swiglu_scalar(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}
}  // namespace kernels

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  auto* run = active_isa() >= Isa::kAvx512 ? kernels::swiglu_avx512 : kernels::swiglu_scalar;
  for_rows(n, 1, [&](int64_t i0, int64_t i1) { run(gate + i0, up + i0, i1 - i0, out + i0); });
}

void softmax(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace dm
