// Causal grouped-query attention over the KV cache (forward, inference).
// Shape legend: q (T, H, D), cache (S, KV, D), out (T, H, D); query head h reads kv head h / (H / KV).
#include <cmath>
#include <vector>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/ops.h"

namespace dm {

void attention(const float* q, int64_t T, int64_t H, int64_t KV, int64_t D, const float* k_cache,
               const float* v_cache, int64_t kv_stride, int64_t pos0, float scale, float* out) {
  const int64_t group = H / KV;
  const int64_t S = pos0 + T;
  parallel_for(T * H, [&](int64_t b, int64_t e) {
    std::vector<float> scores(static_cast<size_t>(S));
    for (int64_t th = b; th < e; ++th) {
      const int64_t t = th / H, h = th % H, kvh = h / group;
      const float* qv = q + (t * H + h) * D;
      const int64_t n = pos0 + t + 1;  // causal: keys 0..pos0+t
      for (int64_t s = 0; s < n; ++s) {
        const float* kv = k_cache + s * kv_stride + kvh * D;
        float dot = 0.0f;
        for (int64_t d = 0; d < D; ++d) dot += qv[d] * kv[d];
        scores[static_cast<size_t>(s)] = dot * scale;
      }
      softmax(scores.data(), n);
      float* o = out + (t * H + h) * D;
      for (int64_t d = 0; d < D; ++d) o[d] = 0.0f;
      for (int64_t s = 0; s < n; ++s) {
        const float* vv = v_cache + s * kv_stride + kvh * D;
        const float p = scores[static_cast<size_t>(s)];
        for (int64_t d = 0; d < D; ++d) o[d] += p * vv[d];
      }
    }
  });
}

}  // namespace dm
