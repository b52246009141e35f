// Causal GQA attention backward (the forward, kernels/ops.h attention, keeps the log-sum-exp it reads)
// and rotate-half RoPE backward. Legend: B batch, T tokens per sequence, H query heads, KV key/value heads, D head dim.
// Query head h reads kv head h / (H / KV). Sequences are independent, positions 0..T-1 each.
#include <algorithm>
#include <cmath>
#include <vector>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/ops_backward.h"

namespace dm {

namespace {

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t D, float scale,
                        float* dq, float* dk, float* dv) {
  const int64_t group = H / KV;
  // One worker per (b, kv head): it alone writes dk/dv of that head and dq of the heads in its group.
  parallel_for(B * KV, [&](int64_t w0, int64_t w1) {
    std::vector<float> p(static_cast<size_t>(T)), dp(static_cast<size_t>(T));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / KV, kh = w % KV;
      for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
        for (int64_t t = 0; t < T; ++t) {
          const int64_t qi = ((b * T + t) * H + h) * D;
          const float* qt = q + qi;
          const float* dot_ = dout + qi;
          const float l = lse[(b * H + h) * T + t];
          // softmax backward: ds = p * (dp - sum_s p*dp), sum_s p*dp = dout . out
          const float delta = dot(dot_, out + qi, D);
          for (int64_t s = 0; s <= t; ++s) {
            const int64_t ki = ((b * T + s) * KV + kh) * D;
            p[static_cast<size_t>(s)] = std::exp(dot(qt, k + ki, D) * scale - l);
            dp[static_cast<size_t>(s)] = dot(dot_, v + ki, D);
          }
          float* dqt = dq + qi;
          for (int64_t s = 0; s <= t; ++s) {
            const int64_t ki = ((b * T + s) * KV + kh) * D;
            const float ps = p[static_cast<size_t>(s)];
            const float ds = ps * (dp[static_cast<size_t>(s)] - delta) * scale;
            const float* ks = k + ki;
            float* dks = dk + ki;
            float* dvs = dv + ki;
            for (int64_t d = 0; d < D; ++d) {
              dqt[d] += ds * ks[d];
              dks[d] += ds * qt[d];
              dvs[d] += ps * dot_[d];
            }
          }
        }
      }
    }
  });
}

void rope_rotate_half_backward(float* dx, int64_t N, int64_t heads, int64_t D, int64_t rot_dim,
                               const int32_t* positions, const double* inv_freq) {
  const int64_t half = rot_dim / 2;
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t j = 0; j < half; ++j) {
        // Angles exactly as the forward forms them (f32 position * f32 inv_freq).
        const float ang = static_cast<float>(positions[n]) * static_cast<float>(inv_freq[j]);
        cs[static_cast<size_t>(j)] = std::cos(ang);
        sn[static_cast<size_t>(j)] = std::sin(ang);
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* g = dx + (n * heads + h) * D;
        for (int64_t j = 0; j < half; ++j) {
          // forward: y1 = a c - b s, y2 = b c + a s  =>  da = g1 c + g2 s, db = -g1 s + g2 c
          const float g1 = g[j], g2 = g[j + half];
          const float c = cs[static_cast<size_t>(j)], s = sn[static_cast<size_t>(j)];
          g[j] = g1 * c + g2 * s;
          g[j + half] = g2 * c - g1 * s;
        }
      }
    }
  });
}

}  // namespace dm
