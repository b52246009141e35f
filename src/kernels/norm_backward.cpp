// RMSNorm, SwiGLU and embedding backward (their forwards are kernels/ops.h, shared with inference).
// Legend: N rows, C channels, V vocab.
#include <cmath>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops_backward.h"
#include "kernels/backward_exp_isa.h"

namespace dm {

void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rstd, int64_t N, int64_t C,
                      float* dx, float* dw) {
  // y = w * x * r, r = (mean(x^2)+eps)^-1/2  =>  dx = r * (w*dy) - x * r^3 / C * sum(w*dy*x)
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* xr = x + n * C;
      const float* dy = dout + n * C;
      const float r = rstd[n];
      float dot = 0.f;
      for (int64_t c = 0; c < C; ++c) dot += w[c] * dy[c] * xr[c];
      const float k = dot * r * r * r / static_cast<float>(C);
      float* d = dx + n * C;
      for (int64_t c = 0; c < C; ++c) d[c] += r * w[c] * dy[c] - k * xr[c];
    }
  });
  if (dw) {
    // Parallel over channels: each worker owns dw[c0..c1), rows summed in order.
    parallel_for(C, [&](int64_t c0, int64_t c1) {
      for (int64_t n = 0; n < N; ++n) {
        const float r = rstd[n];
        for (int64_t c = c0; c < c1; ++c) dw[c] += dout[n * C + c] * x[n * C + c] * r;
      }
    });
  }
}

namespace kernels {

void swiglu_backward_scalar(const float* dout, const float* gate, const float* up, int64_t n, float* dgate,
                            float* dup) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float s = 1.0f / (1.0f + std::exp(-g));
    const float silu = g * s;
    dup[i] += dout[i] * silu;
    dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
  }
}

}  // namespace kernels

void swiglu_backward(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  auto* run = active_isa() >= Isa::kAvx512 ? kernels::swiglu_backward_avx512 : kernels::swiglu_backward_scalar;
  parallel_for(n, [&](int64_t i0, int64_t i1) { run(dout + i0, gate + i0, up + i0, i1 - i0, dgate + i0, dup + i0); });
}

void embedding_backward(const float* dout, const int32_t* ids, int64_t N, int64_t C, float* dtable) {
  // Columns split across workers; tokens visited in order, so repeated ids sum deterministically.
  parallel_for(C, [&](int64_t c0, int64_t c1) {
    for (int64_t n = 0; n < N; ++n) {
      float* row = dtable + static_cast<int64_t>(ids[n]) * C;
      for (int64_t c = c0; c < c1; ++c) row[c] += dout[n * C + c];
    }
  });
}

}  // namespace dm
