// Causal GQA attention backward (the forward, kernels/ops.h attention, keeps the log-sum-exp it reads)
// and rotate-half RoPE backward. Legend: B batch, T tokens per sequence, H query heads, KV key/value heads, D head dim.
// Query head h reads kv head h / (H / KV). Sequences are independent, positions 0..T-1 each.
#include <algorithm>
#include <cmath>
#include <vector>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops_backward.h"
#include "kernels/backward_exp_isa.h"

namespace dm {

namespace {

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

namespace kernels {

void softmax_grad_row_scalar(float* s, float* dp, int64_t n, int64_t last, float scale, float lse, float delta) {
  for (int64_t j = 0; j < n; ++j) {
    const float p = j <= last ? std::exp(s[j] * scale - lse) : 0.f;
    s[j] = p;
    dp[j] = p * (dp[j] - delta) * scale;
  }
}

}  // namespace kernels

// Per (sequence, kv head), query rows in blocks of kQb: for a block [t0, t1) only keys s < t1 exist (causal),
// so every product below is (t1 - t0) x t1 x D and the masked half of the T x T matrices is never computed.
// The five products run on gemm_acc (the training GEMM, SIMD per ISA); K and V are transposed once per head.
void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t D, float scale,
                        float* dq, float* dk, float* dv) {
  constexpr int64_t kQb = 64;
  const int64_t group = H / KV, QS = H * D, KS = KV * D;  // row strides of q/dout/dq and k/v/dk/dv
  auto* softmax_row = active_isa() >= Isa::kAvx512 ? kernels::softmax_grad_row_avx512 : kernels::softmax_grad_row_scalar;
  parallel_for(B * KV, [&](int64_t w0, int64_t w1) {
    std::vector<float> kt(static_cast<size_t>(D * T)), vt(static_cast<size_t>(D * T));
    std::vector<float> s(static_cast<size_t>(kQb * T)), dp(static_cast<size_t>(kQb * T));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / KV, kh = w % KV;
      const float* kb = k + b * T * KS + kh * D;
      const float* vb = v + b * T * KS + kh * D;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d) {
          kt[static_cast<size_t>(d * T + t)] = kb[t * KS + d];
          vt[static_cast<size_t>(d * T + t)] = vb[t * KS + d];
        }
      for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
        const int64_t base = b * T * QS + h * D;
        const float *qh = q + base, *doh = dout + base, *oh = out + base;
        const float* lh = lse + (b * H + h) * T;
        for (int64_t t0 = 0; t0 < T; t0 += kQb) {
          const int64_t rows = std::min(kQb, T - t0), keys = t0 + rows;  // ld of s / dp: keys
          std::fill(s.begin(), s.begin() + rows * keys, 0.f);
          std::fill(dp.begin(), dp.begin() + rows * keys, 0.f);
          gemm_acc(qh + t0 * QS, QS, 1, kt.data(), T, s.data(), keys, rows, keys, D);    // S = Q K^T
          gemm_acc(doh + t0 * QS, QS, 1, vt.data(), T, dp.data(), keys, rows, keys, D);  // dP = dO V^T
          for (int64_t i = 0; i < rows; ++i) {
            const int64_t t = t0 + i;
            const float delta = dot(doh + t * QS, oh + t * QS, D);  // sum_s p*dp = dout . out
            // P = softmax row from the kept log-sum-exp; dS = P (dP - delta) scale; masked: both 0.
            softmax_row(s.data() + i * keys, dp.data() + i * keys, keys, t, scale, lh[t], delta);
          }
          gemm_acc(dp.data(), keys, 1, kb, KS, dq + base + t0 * QS, QS, rows, D, keys);                  // dQ += dS K
          gemm_acc(dp.data(), 1, keys, qh + t0 * QS, QS, dk + b * T * KS + kh * D, KS, keys, D, rows);  // dK += dS^T Q
          gemm_acc(s.data(), 1, keys, doh + t0 * QS, QS, dv + b * T * KS + kh * D, KS, keys, D, rows);  // dV += P^T dO
        }
      }
    }
  });
}

void attention_backward_reference(const float* dout, const float* q, const float* k, const float* v, const float* out,
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
