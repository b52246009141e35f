// Rotary position embedding, "rotate_half" (NeoX) layout: element i pairs with i + rot_dim/2.
#include <cmath>
#include <vector>

#include "devops_model/kernels/ops.h"

namespace dm {

std::vector<double> rope_inv_freq(int64_t rot_dim, double theta, double ntk_alpha) {
  double base = theta;
  if (ntk_alpha != 1.0) base *= std::pow(ntk_alpha, static_cast<double>(rot_dim) / static_cast<double>(rot_dim - 2));
  std::vector<double> f(static_cast<size_t>(rot_dim / 2));
  for (size_t j = 0; j < f.size(); ++j) {
    // torch computes base ** (arange(0, rd, 2).float() / rd) with the exponent in f32
    const float expo = static_cast<float>(2 * j) / static_cast<float>(rot_dim);
    f[j] = static_cast<float>(1.0 / std::pow(base, static_cast<double>(expo)));
  }
  return f;
}

void rope_rotate_half(float* x, int64_t T, int64_t heads, int64_t D, int64_t rot_dim, const int32_t* positions,
                      const double* inv_freq) {
  const int64_t half = rot_dim / 2;
  std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < half; ++j) {
      // The angle is formed in f32 as the reference does (position * inv_freq in float32).
      float ang = static_cast<float>(positions[t]) * static_cast<float>(inv_freq[j]);
      cs[static_cast<size_t>(j)] = std::cos(ang);
      sn[static_cast<size_t>(j)] = std::sin(ang);
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + (t * heads + h) * D;
      for (int64_t j = 0; j < half; ++j) {
        float a = v[j], b = v[j + half];
        float c = cs[static_cast<size_t>(j)], s = sn[static_cast<size_t>(j)];
        v[j] = a * c - b * s;
        v[j + half] = b * c + a * s;
      }
    }
  }
}

}  // namespace dm
