// LayerNorm, GELU and bidirectional masked attention for the BERT encoder (forward). Plain loops: the
// compiler vectorises them and they are a small share of the time next to matmul.
#include "devops_model/kernels/encoder_ops.h"

#include <cfloat>
#include <cmath>
#include <vector>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/ops.h"

namespace dm {

void layernorm(const float* x, int64_t T, int64_t C, const float* w, const float* b, float eps, float* out) {
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = x + t * C;
      float* o = out + t * C;
      double sum = 0.0;
      for (int64_t c = 0; c < C; ++c) sum += xr[c];
      const double mean = sum / static_cast<double>(C);
      double ss = 0.0;  // two-pass variance: no cancellation for large means
      for (int64_t c = 0; c < C; ++c) ss += (xr[c] - mean) * (xr[c] - mean);
      const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(C) + eps));
      const float m = static_cast<float>(mean);
      for (int64_t c = 0; c < C; ++c) o[c] = (xr[c] - m) * r * w[c] + b[c];
    }
  });
}

void gelu_erf(float* x, int64_t n) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
  });
}

void gelu_tanh(float* x, int64_t n) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float v = x[i];
      x[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
  });
}

void encoder_attention(const float* q, const float* k, const float* v, const int32_t* key_mask, int64_t B, int64_t L,
                       int64_t H, int64_t D, float scale, float* out) {
  const int64_t C = H * D;
  parallel_for(B * H * L, [&](int64_t i0, int64_t i1) {
    std::vector<float> scores(static_cast<size_t>(L));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / (H * L), h = (i / L) % H, t = i % L;
      const float* qv = q + (b * L + t) * C + h * D;
      const int32_t* mask = key_mask + b * L;
      for (int64_t s = 0; s < L; ++s) {
        const float* kv = k + (b * L + s) * C + h * D;
        float dot = 0.0f;
        for (int64_t d = 0; d < D; ++d) dot += qv[d] * kv[d];
        // HF adds finfo(float32).min for padding keys; their weight underflows to exactly 0.
        scores[static_cast<size_t>(s)] = mask[s] ? dot * scale : -FLT_MAX;
      }
      softmax(scores.data(), L);
      float* o = out + (b * L + t) * C + h * D;
      for (int64_t d = 0; d < D; ++d) o[d] = 0.0f;
      for (int64_t s = 0; s < L; ++s) {
        const float p = scores[static_cast<size_t>(s)];
        if (p == 0.0f) continue;
        const float* vv = v + (b * L + s) * C + h * D;
        for (int64_t d = 0; d < D; ++d) o[d] += p * vv[d];
      }
    }
  });
}

}  // namespace dm
