// BERT encoder forward (HF BertModel, modeling_bert.py) and sentence-transformers pooling.
// x = LN(word[ids] + pos[0..L) + type[0]); per layer:
//   x = LN(x + Wo·Attn(Wq·x, Wk·x, Wv·x, mask)); x = LN(x + W2·act(W1·x)).
#include "devops_model/model/bert_encoder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/encoder_ops.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops.h"

namespace dm {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_json(const std::string& path) {
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(ErrorKind::kFormat, path, ": invalid JSON object");
  return j;
}

int64_t get_int(const nlohmann::json& j, const std::string& path, const char* key, int64_t def, bool required) {
  if (!j.contains(key)) {
    if (required) fail(ErrorKind::kFormat, path, ": missing \"", key, "\"");
    return def;
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1)
    fail(ErrorKind::kFormat, path, ": \"", key, "\" must be a positive integer");
  return j[key].get<int64_t>();
}

// Tensor lookup that accepts the "bert." prefix and TF-era LayerNorm.gamma/beta names.
class Names {
 public:
  Names(const CheckpointTensors& c, const std::string& dir) : c_(c), dir_(dir) {}
  TensorView get(const std::string& name, const Shape& shape) const {
    std::vector<std::string> cands = {name, "bert." + name};
    for (auto [from, to] : {std::pair{"LayerNorm.weight", "LayerNorm.gamma"}, {"LayerNorm.bias", "LayerNorm.beta"}}) {
      size_t p = name.rfind(from);
      if (p != std::string::npos && p + std::string(from).size() == name.size()) {
        std::string alt = name.substr(0, p) + to;
        cands.push_back(alt), cands.push_back("bert." + alt);
      }
    }
    for (const auto& n : cands) {
      if (!c_.has(n)) continue;
      TensorView t = c_.get(n);
      if (t.shape != shape)
        fail(ErrorKind::kFormat, c_.file_of(n), ": tensor \"", n, "\" has shape ", shape_str(t.shape), ", expected ",
             shape_str(shape));
      if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16)
        fail(ErrorKind::kUnsupported, c_.file_of(n), ": tensor \"", n, "\" has dtype ", dtype_name(t.dtype));
      return t;
    }
    fail(ErrorKind::kFormat, dir_, ": missing tensor \"", name, "\" (also tried the bert. prefix)");
  }
  std::vector<float> f32(const std::string& name, const Shape& shape) const { return get(name, shape).to_f32(); }

 private:
  const CheckpointTensors& c_;
  std::string dir_;
};

}  // namespace

BertConfig BertConfig::from_json_file(const std::string& path) {
  auto j = read_json(path);
  BertConfig c;
  c.vocab_size = get_int(j, path, "vocab_size", 0, true);
  c.hidden_size = get_int(j, path, "hidden_size", 0, true);
  c.num_layers = get_int(j, path, "num_hidden_layers", 0, true);
  c.num_heads = get_int(j, path, "num_attention_heads", 0, true);
  c.intermediate_size = get_int(j, path, "intermediate_size", 0, true);
  c.max_position_embeddings = get_int(j, path, "max_position_embeddings", 512, false);
  c.type_vocab_size = get_int(j, path, "type_vocab_size", 2, false);
  if (j.contains("layer_norm_eps")) {
    if (!j["layer_norm_eps"].is_number()) fail(ErrorKind::kFormat, path, ": \"layer_norm_eps\" must be a number");
    c.layer_norm_eps = j["layer_norm_eps"].get<float>();
  }
  if (j.contains("hidden_act")) {
    if (!j["hidden_act"].is_string()) fail(ErrorKind::kFormat, path, ": \"hidden_act\" must be a string");
    c.hidden_act = j["hidden_act"].get<std::string>();
  }
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" && c.hidden_act != "gelu_pytorch_tanh" &&
      c.hidden_act != "relu")
    fail(ErrorKind::kUnsupported, path, ": hidden_act \"", c.hidden_act, "\" (supported: gelu, gelu_new, relu)");
  std::string pet = j.value("position_embedding_type", "absolute");
  if (pet != "absolute") fail(ErrorKind::kUnsupported, path, ": position_embedding_type \"", pet, "\"");
  if (c.hidden_size % c.num_heads != 0)
    fail(ErrorKind::kFormat, path, ": hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads");
  return c;
}

PoolingConfig PoolingConfig::from_dir(const std::string& dir) {
  PoolingConfig p;
  std::string pool_path;
  fs::path modules = fs::path(dir) / "modules.json";
  if (fs::exists(modules)) {
    auto j = nlohmann::json::parse(read_file(modules.string()), nullptr, false);
    if (j.is_discarded() || !j.is_array()) fail(ErrorKind::kFormat, modules.string(), ": expected a JSON array");
    for (const auto& m : j) {
      std::string type = m.is_object() ? m.value("type", "") : "";
      if (type.find("Pooling") != std::string::npos)
        pool_path = (fs::path(dir) / m.value("path", "") / "config.json").string();
      if (type.find("Normalize") != std::string::npos) p.normalize = true;
    }
  }
  for (const char* c : {"1_Pooling/config.json", "pooling_config.json"}) {
    if (pool_path.empty() && fs::exists(fs::path(dir) / c)) pool_path = (fs::path(dir) / c).string();
  }
  if (pool_path.empty() || !fs::exists(pool_path)) return p;
  auto j = read_json(pool_path);
  auto flag = [&](const char* k) { return j.contains(k) && j[k].is_boolean() && j[k].get<bool>(); };
  const bool cls = flag("pooling_mode_cls_token"), mean = flag("pooling_mode_mean_tokens");
  if (flag("pooling_mode_max_tokens") || flag("pooling_mode_mean_sqrt_len_tokens") ||
      flag("pooling_mode_weightedmean_tokens") || flag("pooling_mode_lasttoken") || (cls && mean))
    fail(ErrorKind::kUnsupported, pool_path, ": only mean or CLS pooling (one of them) is supported");
  p.mode = cls ? BertPooling::kCls : BertPooling::kMean;
  return p;
}

BertEncoder BertEncoder::load_dir(const std::string& dir) {
  BertConfig cfg = BertConfig::from_json_file((fs::path(dir) / "config.json").string());
  return BertEncoder(cfg, CheckpointTensors::open_dir(dir), PoolingConfig::from_dir(dir), dir);
}

BertEncoder::BertEncoder(BertConfig cfg, const CheckpointTensors& ckpt, PoolingConfig pooling, const std::string& dir)
    : cfg_(std::move(cfg)), pooling_(pooling), ckpt_(ckpt) {
  Names n(ckpt_, dir);
  const int64_t C = cfg_.hidden_size, I = cfg_.intermediate_size;
  word_ = n.get("embeddings.word_embeddings.weight", {cfg_.vocab_size, C});
  pos_ = n.get("embeddings.position_embeddings.weight", {cfg_.max_position_embeddings, C});
  type_ = n.get("embeddings.token_type_embeddings.weight", {cfg_.type_vocab_size, C});
  emb_ln_w_ = n.f32("embeddings.LayerNorm.weight", {C});
  emb_ln_b_ = n.f32("embeddings.LayerNorm.bias", {C});
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    BertLayerWeights w;
    w.q_w = n.get(p + "attention.self.query.weight", {C, C});
    w.q_b = n.get(p + "attention.self.query.bias", {C});
    w.k_w = n.get(p + "attention.self.key.weight", {C, C});
    w.k_b = n.get(p + "attention.self.key.bias", {C});
    w.v_w = n.get(p + "attention.self.value.weight", {C, C});
    w.v_b = n.get(p + "attention.self.value.bias", {C});
    w.o_w = n.get(p + "attention.output.dense.weight", {C, C});
    w.o_b = n.get(p + "attention.output.dense.bias", {C});
    w.ln1_w = n.f32(p + "attention.output.LayerNorm.weight", {C});
    w.ln1_b = n.f32(p + "attention.output.LayerNorm.bias", {C});
    w.up_w = n.get(p + "intermediate.dense.weight", {I, C});
    w.up_b = n.get(p + "intermediate.dense.bias", {I});
    w.down_w = n.get(p + "output.dense.weight", {C, I});
    w.down_b = n.get(p + "output.dense.bias", {C});
    w.ln2_w = n.f32(p + "output.LayerNorm.weight", {C});
    w.ln2_b = n.f32(p + "output.LayerNorm.bias", {C});
    layers_.push_back(std::move(w));
  }
}

// x: (B*L, C) in place.
void BertEncoder::layer_forward(const BertLayerWeights& w, float* x, const int32_t* mask, int64_t B, int64_t L) const {
  const int64_t T = B * L, C = cfg_.hidden_size, H = cfg_.num_heads, D = C / H, I = cfg_.intermediate_size;
  std::vector<float> q(static_cast<size_t>(T * C)), k(q.size()), v(q.size()), ctx(q.size());
  matmul(x, T, w.q_w, w.q_b, q.data());  // (T, C)
  matmul(x, T, w.k_w, w.k_b, k.data());
  matmul(x, T, w.v_w, w.v_b, v.data());
  encoder_attention(q.data(), k.data(), v.data(), mask, B, L, H, D, 1.0f / std::sqrt(static_cast<float>(D)),
                    ctx.data());
  matmul(ctx.data(), T, w.o_w, w.o_b, q.data());  // reuse q as the attention output
  for (size_t i = 0; i < q.size(); ++i) q[i] += x[i];
  layernorm(q.data(), T, C, w.ln1_w.data(), w.ln1_b.data(), cfg_.layer_norm_eps, x);
  std::vector<float> up(static_cast<size_t>(T * I));
  matmul(x, T, w.up_w, w.up_b, up.data());  // (T, I)
  if (cfg_.hidden_act == "gelu") {
    gelu_erf(up.data(), T * I);
  } else if (cfg_.hidden_act == "relu") {
    for (auto& a : up) a = a > 0.0f ? a : 0.0f;
  } else {
    gelu_tanh(up.data(), T * I);
  }
  matmul(up.data(), T, w.down_w, w.down_b, q.data());  // (T, C)
  for (size_t i = 0; i < q.size(); ++i) q[i] += x[i];
  layernorm(q.data(), T, C, w.ln2_w.data(), w.ln2_b.data(), cfg_.layer_norm_eps, x);
}

Tensor BertEncoder::forward(const int32_t* ids, const int32_t* mask, int64_t B, int64_t L) const {
  const int64_t C = cfg_.hidden_size;
  if (L > cfg_.max_position_embeddings)
    fail(ErrorKind::kInvalidArgument, "BERT input of ", L, " tokens exceeds max_position_embeddings ",
         cfg_.max_position_embeddings);
  Tensor out = Tensor::zeros_f32({B, L, C});
  float* x = out.f32();
  embed_rows(word_, ids, B * L, x);
  std::vector<float> pos(static_cast<size_t>(L * C)), type(static_cast<size_t>(C));
  convert_to_f32(pos_.dtype, pos_.data, pos.data(), pos.size());
  convert_to_f32(type_.dtype, type_.data, type.data(), type.size());  // row 0: token type 0
  for (int64_t t = 0; t < B * L; ++t) {
    const float* pr = pos.data() + (t % L) * C;
    float* xr = x + t * C;
    for (int64_t c = 0; c < C; ++c) xr[c] += pr[c] + type[static_cast<size_t>(c)];
  }
  layernorm(x, B * L, C, emb_ln_w_.data(), emb_ln_b_.data(), cfg_.layer_norm_eps, x);
  for (const auto& w : layers_) layer_forward(w, x, mask, B, L);
  return out;
}

Tensor BertEncoder::pool(const Tensor& hidden, const int32_t* mask, int64_t B, int64_t L) const {
  const int64_t C = cfg_.hidden_size;
  Tensor out = Tensor::zeros_f32({B, C});
  for (int64_t b = 0; b < B; ++b) {
    float* o = out.f32() + b * C;
    const float* h = hidden.f32() + b * L * C;
    if (pooling_.mode == BertPooling::kCls) {
      std::copy(h, h + C, o);
    } else {
      std::vector<double> sum(static_cast<size_t>(C), 0.0);
      double n = 0;
      for (int64_t t = 0; t < L; ++t) {
        if (!mask[b * L + t]) continue;
        n += 1;
        for (int64_t c = 0; c < C; ++c) sum[static_cast<size_t>(c)] += h[t * C + c];
      }
      n = std::max(n, 1e-9);  // sentence-transformers: clamp(min=1e-9)
      for (int64_t c = 0; c < C; ++c) o[c] = static_cast<float>(sum[static_cast<size_t>(c)] / n);
    }
    if (pooling_.normalize) {  // F.normalize: x / max(||x||, 1e-12)
      double ss = 0;
      for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(o[c]) * o[c];
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(ss), 1e-12));
      for (int64_t c = 0; c < C; ++c) o[c] *= inv;
    }
  }
  return out;
}

Tensor BertEncoder::encode(const std::vector<std::vector<int32_t>>& seqs, int64_t batch_size) const {
  const int64_t N = static_cast<int64_t>(seqs.size()), C = cfg_.hidden_size;
  batch_size = std::max<int64_t>(batch_size, 1);
  Tensor out = Tensor::zeros_f32({N, C});
  // Length-sorted batches waste little on padding; the stable sort keeps the order deterministic.
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return seqs[a].size() < seqs[b].size(); });
  // Validate first: nothing may throw inside the parallel region below.
  for (const auto& s : seqs) {
    if (s.empty() || static_cast<int64_t>(s.size()) > cfg_.max_position_embeddings)
      fail(ErrorKind::kInvalidArgument, "BERT input of ", s.size(), " tokens (need 1..", cfg_.max_position_embeddings,
           ")");
    for (int32_t id : s) {
      if (id < 0 || id >= cfg_.vocab_size)
        fail(ErrorKind::kInvalidArgument, "token id ", id, " outside the vocabulary [0, ", cfg_.vocab_size, ")");
    }
  }
  auto run_batch = [&](int64_t b0) {
    const int64_t B = std::min(batch_size, N - b0);
    int64_t L = 1;
    for (int64_t i = 0; i < B; ++i) L = std::max<int64_t>(L, static_cast<int64_t>(seqs[order[b0 + i]].size()));
    std::vector<int32_t> ids(static_cast<size_t>(B * L), 0), mask(ids.size(), 0);
    for (int64_t i = 0; i < B; ++i) {
      const auto& s = seqs[order[b0 + i]];
      std::copy(s.begin(), s.end(), ids.begin() + i * L);
      std::fill(mask.begin() + i * L, mask.begin() + i * L + static_cast<int64_t>(s.size()), 1);
    }
    Tensor pooled = pool(forward(ids.data(), mask.data(), B, L), mask.data(), B, L);
    for (int64_t i = 0; i < B; ++i)
      std::copy(pooled.f32() + i * C, pooled.f32() + (i + 1) * C, out.f32() + order[b0 + i] * C);
  };
  // Several batches: one worker per thread, each taking every workers-th batch (lengths interleave, so
  // the load balances) with single-threaded kernels inside (nested regions are inactive): far fewer
  // barriers than threading every op. Each row's arithmetic is the same either way, so the result does
  // not depend on the thread count.
  const int64_t nb = (N + batch_size - 1) / batch_size;
  const int64_t workers = std::min<int64_t>(num_threads(), nb);
  if (workers <= 1) {
    for (int64_t b = 0; b < nb; ++b) run_batch(b * batch_size);
  } else {
    parallel_for(workers, [&](int64_t w0, int64_t w1) {
      for (int64_t w = w0; w < w1; ++w) {
        for (int64_t b = w; b < nb; b += workers) run_batch(b * batch_size);
      }
    });
  }
  return out;
}

}  // namespace dm
