// Inference's executor of the decoder block: several sequences batched row-wise, each with its own KV
// cache, positions and (Qwen1) NTK alpha; weights of any dtype. Shape legend: R rows of all sequences,
// C hidden, Q = H*D, KVD = KV*D, F MLP width, V vocab.
#include <algorithm>
#include <cmath>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops.h"
#include "devops_model/model/decoder_block.h"
#include "devops_model/model/model.h"

namespace dm {

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

class InferenceExecutor : public LayerExecutor {
 public:
  InferenceExecutor(const ModelConfig& c, const ModelWeights& w, std::span<const Model::BatchItem> items,
                    const std::vector<Segment>& seg)
      : c_(c), w_(w), items_(items), seg_(seg) {}

  void project(int layer, std::span<const Proj> group, const float* x, int64_t rows,
               std::span<float* const> outs) override {
    const LayerWeights& l = w_.layers[static_cast<size_t>(layer)];
    MatmulTarget t[3];
    for (size_t i = 0; i < group.size(); ++i) t[i] = {l.proj(group[i]), l.proj_bias(group[i]), outs[i]};
    matmul_group(x, rows, std::span<const MatmulTarget>(t, group.size()));
  }

  // Appends each sequence's keys/values to its cache, then attends over everything cached.
  void attend(int layer, const float* q, const float* k, const float* v, int64_t, float* out) override {
    const int64_t H = c_.num_heads, KV = c_.num_kv_heads, D = c_.head_dim, Q = c_.q_dim(), KVD = c_.kv_dim();
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    for (size_t b = 0; b < items_.size(); ++b) {
      const Segment& s = seg_[b];
      KVCache& cache = *items_[b].cache;
      for (int64_t t = 0; t < s.rows; ++t) {
        std::copy_n(k + (s.row0 + t) * KVD, KVD, cache.k(layer, s.pos0 + static_cast<int>(t)));
        std::copy_n(v + (s.row0 + t) * KVD, KVD, cache.v(layer, s.pos0 + static_cast<int>(t)));
      }
      attention(q + s.row0 * Q, s.rows, H, KV, D, cache.k(layer, 0), cache.v(layer, 0), KVD, s.pos0, scale,
                out + s.row0 * Q);
    }
  }

 private:
  const ModelConfig& c_;
  const ModelWeights& w_;
  std::span<const Model::BatchItem> items_;
  const std::vector<Segment>& seg_;
};

}  // namespace

void Model::check_finite_logits(const float* row, int64_t V) const {
  for (int64_t i = 0; i < V; ++i) {
    if (std::isfinite(row[i])) continue;
    fail(ErrorKind::kFormat, dir_.empty() ? std::string("model") : dir_, ": logits are not finite (", row[i],
         " for token ", i,
         "): the weights hold NaN/Inf or overflow; --check-weights names the first tensor holding NaN/Inf, "
         "`devops-model logits --trace T.safetensors` the first non-finite layer output");
  }
}

void Model::forward_batch(std::span<const BatchItem> items) const {
  const ModelConfig& c = config_;
  const ModelWeights& w = *weights_;
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KVD = c.kv_dim();
  // Rows of every item, concatenated: (R, C). Positions and caches stay per item.
  std::vector<Segment> seg(items.size());
  std::vector<int32_t> ids, pos;
  for (size_t b = 0; b < items.size(); ++b) {
    const BatchItem& it = items[b];
    if (it.ids.empty()) fail(ErrorKind::kInvalidArgument, "forward: no tokens");
    DM_CHECK(it.logits || it.hidden, "batch items must want logits or hidden states");
    for (size_t o = 0; o < b; ++o) DM_CHECK(items[o].cache != it.cache, "batch items must use distinct caches");
    KVCache& cache = *it.cache;
    const int T = static_cast<int>(it.ids.size());
    seg[b].row0 = static_cast<int64_t>(ids.size());
    seg[b].rows = T;
    seg[b].pos0 = cache.size_;
    cache.reserve(cache.size_ + T);
    if (cache.size_ == 0) cache.ntk_alpha_ = ntk_alpha_for(T);  // fixed at prefill, kept after
    seg[b].inv_freq = rope_inv_freq(c.rotary_dim, c.rope_theta, cache.ntk_alpha_);
    ids.insert(ids.end(), it.ids.begin(), it.ids.end());
    for (int t = 0; t < T; ++t) pos.push_back(cache.size_ + t);
  }
  const int64_t R = static_cast<int64_t>(ids.size());
  RowPositions positions;
  positions.logn = true;
  for (const Segment& s : seg) positions.runs.push_back({s.row0, s.rows, pos.data() + s.row0, s.inv_freq.data()});

  std::vector<float> x(static_cast<size_t>(R * C)), h(x.size()), tmp(x.size());
  std::vector<float> q(static_cast<size_t>(R * Q)), att(q.size());
  std::vector<float> k(static_cast<size_t>(R * KVD)), v(k.size());
  std::vector<float> g(static_cast<size_t>(R * F)), u(g.size());
  LayerBuffers buf;
  buf.x = x.data(), buf.h1 = buf.h2 = h.data(), buf.tmp = tmp.data();
  buf.q = q.data(), buf.k = k.data(), buf.v = v.data(), buf.att = att.data();
  buf.gate = buf.act = g.data(), buf.up = u.data();
  InferenceExecutor ex(c, w, items, seg);
  ex.trace = trace_;
  decoder_embed(c, w, ids.data(), R, x.data(), ex);
  for (int layer = 0; layer < c.num_layers; ++layer)
    decoder_layer(c, w.layers[static_cast<size_t>(layer)], layer, R, positions, buf, ex);

  // Final norm over the rows wanted (the last of each item, or all), lm_head over those of items that
  // want logits.
  std::vector<int64_t> out_rows;
  for (size_t b = 0; b < items.size(); ++b) {
    KVCache& cache = *items[b].cache;
    cache.size_ = seg[b].pos0 + static_cast<int>(seg[b].rows);
    cache.ids_.insert(cache.ids_.end(), items[b].ids.begin(), items[b].ids.end());
    cache.publish_sizes();
    for (int64_t t = items[b].all_positions ? 0 : seg[b].rows - 1; t < seg[b].rows; ++t)
      out_rows.push_back(seg[b].row0 + t);
  }
  const int64_t n_out = static_cast<int64_t>(out_rows.size());
  std::vector<float> xo(static_cast<size_t>(n_out * C));
  for (int64_t r = 0; r < n_out; ++r)
    std::copy_n(x.data() + out_rows[static_cast<size_t>(r)] * C, C, xo.data() + r * C);
  decoder_final_norm(c, w, xo.data(), n_out, xo.data(), nullptr, ex);
  // Rows [first, first + n) of xo per item; logit rows packed in item order.
  std::vector<int64_t> first(items.size());
  int64_t n_logit = 0;
  bool all_logits = true;
  for (size_t b = 0, r = 0; b < items.size(); ++b) {
    first[b] = static_cast<int64_t>(r);
    const int64_t n = items[b].all_positions ? seg[b].rows : 1;
    r += static_cast<size_t>(n);
    if (items[b].hidden) items[b].hidden->assign(xo.begin() + first[b] * C, xo.begin() + (first[b] + n) * C);
    if (items[b].logits) {
      n_logit += n;
    } else {
      all_logits = false;
    }
  }
  if (n_logit == 0) return;
  const float* xl = xo.data();
  std::vector<float> packed;
  if (!all_logits) {  // only some items want logits: gather their rows
    packed.reserve(static_cast<size_t>(n_logit * C));
    for (size_t b = 0; b < items.size(); ++b) {
      if (!items[b].logits) continue;
      const int64_t n = items[b].all_positions ? seg[b].rows : 1;
      packed.insert(packed.end(), xo.begin() + first[b] * C, xo.begin() + (first[b] + n) * C);
    }
    xl = packed.data();
  }
  std::vector<float> lo(static_cast<size_t>(n_logit * V));
  matmul(xl, n_logit, w.lm_head, TensorView{}, lo.data());
  if (trace_) trace_(TraceEvent{-1, "logits", lo.data(), n_logit, V});
  int64_t r = 0;
  for (size_t b = 0; b < items.size(); ++b) {
    if (!items[b].logits) continue;
    const int64_t n = items[b].all_positions ? seg[b].rows : 1;
    // NaN/Inf weights would otherwise sample id 0 forever. With a trace the caller looks at the values.
    if (!trace_) check_finite_logits(lo.data() + (r + n - 1) * V, V);
    items[b].logits->assign(lo.begin() + r * V, lo.begin() + (r + n) * V);
    r += n;
  }
}

void Model::hidden_states(std::span<const int32_t> ids, KVCache& cache, std::vector<float>& hidden) const {
  BatchItem item{ids, &cache, nullptr, true, &hidden};
  forward_batch(std::span<const BatchItem>(&item, 1));
}

}  // namespace dm
