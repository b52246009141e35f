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
  BatchItem item{ids, &cache, &logits, all_positions};
  forward_batch(std::span<const BatchItem>(&item, 1));
}

namespace {

// Where one item's rows sit in the batch, and its RoPE state.
struct Segment {
  int64_t row0 = 0, rows = 0;
  int pos0 = 0;
  std::vector<double> inv_freq;
};

}  // namespace

void Model::forward_batch(std::span<const BatchItem> items) const {
  const ModelConfig& c = config_;
  const ModelWeights& w = *weights_;
  const int64_t C = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim, F = c.intermediate_size,
                V = c.vocab_size, Q = c.q_dim(), KVD = c.kv_dim();
  // Rows of every item, concatenated: (R, C). Positions and caches stay per item.
  std::vector<Segment> seg(items.size());
  std::vector<int32_t> ids, pos;
  for (size_t b = 0; b < items.size(); ++b) {
    const BatchItem& it = items[b];
    if (it.ids.empty()) fail(ErrorKind::kInvalidArgument, "forward: no tokens");
    for (size_t o = 0; o < b; ++o)
      DM_CHECK(items[o].cache != it.cache, "batch items must use distinct caches");
    KVCache& cache = *it.cache;
    const int T = static_cast<int>(it.ids.size());
    seg[b].row0 = static_cast<int64_t>(ids.size());
    seg[b].rows = T;
    seg[b].pos0 = cache.size_;
    cache.reserve(cache.size_ + T);
    if (cache.size_ == 0) cache.ntk_alpha_ = ntk_alpha_for(T);  // fixed at prefill, kept after
    seg[b].inv_freq = rope_inv_freq(c, cache.ntk_alpha_);
    ids.insert(ids.end(), it.ids.begin(), it.ids.end());
    for (int t = 0; t < T; ++t) pos.push_back(cache.size_ + t);
  }
  const int64_t R = static_cast<int64_t>(ids.size());

  std::vector<float> x(static_cast<size_t>(R * C)), h(x.size()), tmp(x.size());
  std::vector<float> q(static_cast<size_t>(R * Q)), att(q.size());
  std::vector<float> k(static_cast<size_t>(R * KVD)), v(k.size());
  std::vector<float> g(static_cast<size_t>(R * F)), u(g.size());
  embed_rows(w.embed, ids.data(), R, x.data());
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  for (int64_t li = 0; li < c.num_layers; ++li) {
    const LayerWeights& l = w.layers[static_cast<size_t>(li)];
    const int layer = static_cast<int>(li);
    // Attention block: h = norm(x); q, k, v projections; per-head norms; RoPE; logn; cache; attend.
    rmsnorm(x.data(), R, C, l.input_norm, c.rms_norm_eps, h.data());
    const MatmulTarget qkv[] = {{l.q, l.q_bias, q.data()}, {l.k, l.k_bias, k.data()}, {l.v, l.v_bias, v.data()}};
    matmul_group(h.data(), R, qkv);
    if (c.qk_norm) {
      rmsnorm(q.data(), R * H, D, l.q_norm, c.rms_norm_eps, q.data());
      rmsnorm(k.data(), R * KV, D, l.k_norm, c.rms_norm_eps, k.data());
    }
    for (size_t b = 0; b < items.size(); ++b) {
      const Segment& s = seg[b];
      KVCache& cache = *items[b].cache;
      float* qs = q.data() + s.row0 * Q;
      float* ks = k.data() + s.row0 * KVD;
      const int32_t* ps = pos.data() + s.row0;
      rope_rotate_half(qs, s.rows, H, D, c.rotary_dim, ps, s.inv_freq.data());
      rope_rotate_half(ks, s.rows, KV, D, c.rotary_dim, ps, s.inv_freq.data());
      if (c.logn_attn) {
        for (int64_t t = 0; t < s.rows; ++t) {
          int p1 = ps[t] + 1;
          if (p1 <= c.seq_length) continue;
          float f = static_cast<float>(std::log(static_cast<double>(p1)) / std::log(static_cast<double>(c.seq_length)));
          for (int64_t i = 0; i < Q; ++i) qs[t * Q + i] *= f;
        }
      }
      for (int64_t t = 0; t < s.rows; ++t) {
        std::copy_n(ks + t * KVD, KVD, cache.k(layer, s.pos0 + static_cast<int>(t)));
        std::copy_n(v.data() + (s.row0 + t) * KVD, KVD, cache.v(layer, s.pos0 + static_cast<int>(t)));
      }
      attention(qs, s.rows, H, KV, D, cache.k(layer, 0), cache.v(layer, 0), KVD, s.pos0, scale,
                att.data() + s.row0 * Q);
    }
    matmul(att.data(), R, l.o, TensorView{}, tmp.data());
    add_into(x.data(), tmp.data(), R * C);
    // MLP block: x += down(silu(gate(h)) * up(h)).
    rmsnorm(x.data(), R, C, l.post_norm, c.rms_norm_eps, h.data());
    const MatmulTarget gate_up[] = {{l.gate, TensorView{}, g.data()}, {l.up, TensorView{}, u.data()}};
    matmul_group(h.data(), R, gate_up);
    silu_mul(g.data(), u.data(), R * F);
    matmul(g.data(), R, l.down, TensorView{}, tmp.data());
    add_into(x.data(), tmp.data(), R * C);
  }

  // Final norm and lm_head over the rows whose logits are wanted (the last of each item, or all).
  std::vector<int64_t> out_rows;
  for (size_t b = 0; b < items.size(); ++b) {
    KVCache& cache = *items[b].cache;
    cache.size_ = seg[b].pos0 + static_cast<int>(seg[b].rows);
    cache.ids_.insert(cache.ids_.end(), items[b].ids.begin(), items[b].ids.end());
    for (int64_t t = items[b].all_positions ? 0 : seg[b].rows - 1; t < seg[b].rows; ++t)
      out_rows.push_back(seg[b].row0 + t);
  }
  const int64_t n_out = static_cast<int64_t>(out_rows.size());
  std::vector<float> xo(static_cast<size_t>(n_out * C)), lo(static_cast<size_t>(n_out * V));
  for (int64_t r = 0; r < n_out; ++r) std::copy_n(x.data() + out_rows[static_cast<size_t>(r)] * C, C, xo.data() + r * C);
  rmsnorm(xo.data(), n_out, C, w.final_norm, c.rms_norm_eps, xo.data());
  matmul(xo.data(), n_out, w.lm_head, TensorView{}, lo.data());
  int64_t r = 0;
  for (size_t b = 0; b < items.size(); ++b) {
    const int64_t n = items[b].all_positions ? seg[b].rows : 1;
    items[b].logits->assign(lo.begin() + r * V, lo.begin() + (r + n) * V);
    r += n;
  }
}

}  // namespace dm
