// Cross-entropy over vocab rows, fused forward + backward (the logits buffer becomes its gradient).
// Legend: N rows (tokens), V vocab.
#include <algorithm>
#include <cmath>
#include <vector>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/ops_backward.h"

namespace dm {

double cross_entropy_forward_backward(float* logits, const int32_t* targets, int64_t N, int64_t V, float grad_scale) {
  std::vector<double> row_loss(static_cast<size_t>(N), 0.0);
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* x = logits + n * V;
      const int32_t tgt = targets[n];
      if (tgt < 0) {
        std::fill(x, x + V, 0.f);
        continue;
      }
      const float mx = *std::max_element(x, x + V);
      const float target_logit = x[tgt];
      // One f32 exp per logit: x_i becomes e_i = exp(x_i - max), summed in double in 8 interleaved partial
      // sums (a single chain of dependent adds cost more than the exps), then softmax_i = e_i / sum.
      double lanes[8] = {};
      for (int64_t i = 0; i < V; ++i) {
        const float e = std::exp(x[i] - mx);
        lanes[i % 8] += e;
        x[i] = e;
      }
      double sum = 0.0;
      for (double l : lanes) sum += l;
      row_loss[static_cast<size_t>(n)] = mx + std::log(sum) - target_logit;
      // d/dx_i = softmax_i - [i == target]
      const double inv = static_cast<double>(grad_scale) / sum;
      for (int64_t i = 0; i < V; ++i) x[i] = static_cast<float>(x[i] * inv);
      x[tgt] -= grad_scale;
    }
  });
  double total = 0.0;
  for (double l : row_loss) total += l;  // fixed order
  return total;
}

}  // namespace dm
