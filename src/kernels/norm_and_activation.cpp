// RMSNorm, embedding lookup, SwiGLU and softmax (forward). Plain loops: the compiler vectorises them and
// they are a small share of the time next to matmul.
#include <cmath>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/ops.h"

namespace dm {

void rmsnorm(const float* x, int64_t T, int64_t C, const TensorView& w, float eps, float* out) {
  DM_CHECK(w.numel() == C, "norm weight size");
  std::vector<float> wf = w.to_f32();
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * C;
    float* o = out + t * C;
    double ss = 0.0;  // double: the mean of squares of 4096 values loses bits in f32
    for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(xr[c]) * xr[c];
    float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(C) + eps));
    for (int64_t c = 0; c < C; ++c) o[c] = xr[c] * r * wf[static_cast<size_t>(c)];
  }
}

void embed_rows(const TensorView& table, const int32_t* ids, int64_t T, float* out) {
  const int64_t V = table.shape[0], C = table.shape[1];
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= V) fail(ErrorKind::kInvalidArgument, "token id ", ids[t], " outside the vocabulary [0, ", V, ")");
    TensorView row = table.rows(ids[t], 1);
    convert_to_f32(table.dtype, row.data, out + t * C, static_cast<size_t>(C));
  }
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
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
