// The one decoder forward for every family (inference). Shape legend: T new tokens, C hidden,
// H heads, KV kv heads, D head dim, F MLP width, V vocab.
#include <algorithm>
#include <cmath>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops.h"
#include "devops_model/model/model.h"

namespace dm {

namespace {

std::vector<double> rope_inv_freq(const ModelConfig& c, double alpha) {
  const int rd = c.rotary_dim;
  double base = c.rope_theta;
  if (alpha != 1.0) base *= std::pow(alpha, static_cast<double>(rd) / (rd - 2));  // Qwen1 dynamic NTK
  std::vector<double> f(static_cast<size_t>(rd / 2));
  for (int j = 0; j < rd / 2; ++j) {
    // torch computes base ** (arange(0, rd, 2).float() / rd) in f32
    float expo = static_cast<float>(2 * j) / static_cast<float>(rd);
    f[static_cast<size_t>(j)] = static_cast<float>(1.0 / std::pow(base, static_cast<double>(expo)));
  }
  return f;
}

void add_into(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

double Model::ntk_alpha_for(int len) const {
  if (!config_.dynamic_ntk || len <= 0) return 1.0;
  double context = std::log2(static_cast<double>(len) / config_.seq_length) + 1.0;
  double alpha = std::pow(2.0, std::ceil(context)) - 1.0;
  return alpha < 1.0 ? 1.0 : alpha;
}

void Model::forward(std::span<const int32_t> ids, KVCache& cache, std::vector<float>& logits,
                    bool all_positions) const {
  const ModelConfig& c = config_;
  const ModelWeights& w = *weights_;
  const int64_t T = static_cast<int64_t>(ids.size());
  if (T == 0) fail(ErrorKind::kInvalidArgument, "forward: no tokens");
  const int64_t C = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim, F = c.intermediate_size,
                V = c.vocab_size, Q = c.q_dim(), KVD = c.kv_dim();
  const int pos0 = cache.size_;
  cache.reserve(pos0 + static_cast<int>(T));
  if (pos0 == 0) cache.ntk_alpha_ = ntk_alpha_for(static_cast<int>(T));  // fixed at prefill, kept after
  const std::vector<double> inv_freq = rope_inv_freq(c, cache.ntk_alpha_);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = pos0 + static_cast<int32_t>(t);

  std::vector<float> x(static_cast<size_t>(T * C)), h(x.size()), tmp(x.size());
  std::vector<float> q(static_cast<size_t>(T * Q)), att(q.size());
  std::vector<float> k(static_cast<size_t>(T * KVD)), v(k.size());
  std::vector<float> g(static_cast<size_t>(T * F)), u(g.size());
  embed_rows(w.embed, ids.data(), T, x.data());
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  for (int64_t li = 0; li < c.num_layers; ++li) {
    const LayerWeights& l = w.layers[static_cast<size_t>(li)];
    // Attention block: h = norm(x); q, k, v projections; per-head norms; RoPE; logn; cache; attend.
    rmsnorm(x.data(), T, C, l.input_norm, c.rms_norm_eps, h.data());
    matmul(h.data(), T, l.q, l.q_bias, q.data());
    matmul(h.data(), T, l.k, l.k_bias, k.data());
    matmul(h.data(), T, l.v, l.v_bias, v.data());
    if (c.qk_norm) {
      rmsnorm(q.data(), T * H, D, l.q_norm, c.rms_norm_eps, q.data());
      rmsnorm(k.data(), T * KV, D, l.k_norm, c.rms_norm_eps, k.data());
    }
    rope_rotate_half(q.data(), T, H, D, c.rotary_dim, pos.data(), inv_freq.data());
    rope_rotate_half(k.data(), T, KV, D, c.rotary_dim, pos.data(), inv_freq.data());
    if (c.logn_attn) {
      for (int64_t t = 0; t < T; ++t) {
        int p1 = pos[static_cast<size_t>(t)] + 1;
        if (p1 <= c.seq_length) continue;
        float f = static_cast<float>(std::log(static_cast<double>(p1)) / std::log(static_cast<double>(c.seq_length)));
        for (int64_t i = 0; i < Q; ++i) q[static_cast<size_t>(t * Q + i)] *= f;
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(k.data() + t * KVD, KVD, cache.k(static_cast<int>(li), pos0 + static_cast<int>(t)));
      std::copy_n(v.data() + t * KVD, KVD, cache.v(static_cast<int>(li), pos0 + static_cast<int>(t)));
    }
    attention(q.data(), T, H, KV, D, cache.k(static_cast<int>(li), 0), cache.v(static_cast<int>(li), 0), KVD, pos0,
              scale, att.data());
    matmul(att.data(), T, l.o, TensorView{}, tmp.data());
    add_into(x.data(), tmp.data(), T * C);
    // MLP block: x += down(silu(gate(h)) * up(h)).
    rmsnorm(x.data(), T, C, l.post_norm, c.rms_norm_eps, h.data());
    matmul(h.data(), T, l.gate, TensorView{}, g.data());
    matmul(h.data(), T, l.up, TensorView{}, u.data());
    silu_mul(g.data(), u.data(), T * F);
    matmul(g.data(), T, l.down, TensorView{}, tmp.data());
    add_into(x.data(), tmp.data(), T * C);
  }
  cache.size_ = pos0 + static_cast<int>(T);
  cache.ids_.insert(cache.ids_.end(), ids.begin(), ids.end());

  const int64_t first = all_positions ? 0 : T - 1, rows = T - first;
  rmsnorm(x.data() + first * C, rows, C, w.final_norm, c.rms_norm_eps, h.data());
  logits.resize(static_cast<size_t>(rows * V));
  matmul(h.data(), rows, w.lm_head, TensorView{}, logits.data());
}

}  // namespace dm
