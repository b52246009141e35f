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
      double sum = 0.0;
      for (int64_t i = 0; i < V; ++i) sum += std::exp(static_cast<double>(x[i] - mx));
      const double lse = mx + std::log(sum);
      row_loss[static_cast<size_t>(n)] = lse - x[tgt];
      // d/dx_i = softmax_i - [i == target]
      for (int64_t i = 0; i < V; ++i) x[i] = static_cast<float>(std::exp(x[i] - lse)) * grad_scale;
      x[tgt] -= grad_scale;
    }
  });
  double total = 0.0;
  for (double l : row_loss) total += l;  // fixed order
  return total;
}

}  // namespace dm
