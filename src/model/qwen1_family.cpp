// Qwen1 (QWenLMHeadModel: Qwen-7B/14B, DevOps-Model-7B/14B). Both config key generations; fused c_attn
// is split into q/k/v views (no copy); mlp.w1 is up, mlp.w2 is gate (silu applies to w2).
#include "devops_model/core/error.h"
#include "devops_model/model/family.h"

namespace dm {

namespace {

ModelConfig parse(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  c.family = ModelFamily::kQwen1;
  c.architecture = "QWenLMHeadModel";
  c.hidden_size = cfg::get_int_any(j, {"hidden_size", "n_embd"}, path);
  c.num_layers = cfg::get_int_any(j, {"num_hidden_layers", "n_layer"}, path);
  c.num_heads = cfg::get_int_any(j, {"num_attention_heads", "n_head"}, path);
  c.num_kv_heads = c.num_heads;  // Qwen1 has no GQA
  c.head_dim = cfg::get_int_or(j, "kv_channels", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0, path);
  c.intermediate_size = cfg::get_int_any(j, {"intermediate_size", "ffn_hidden_size"}, path) / 2;
  // Old configs: wte has padded_vocab_size rows, lm_head vocab_size rows.
  c.vocab_size = cfg::has(j, "padded_vocab_size") ? cfg::get_int(j, "padded_vocab_size", path)
                                                  : cfg::get_int(j, "vocab_size", path);
  int lm_rows = cfg::get_int_or(j, "vocab_size", c.vocab_size, path);
  if (lm_rows != c.vocab_size)
    fail(ErrorKind::kUnsupported, path, ": padded_vocab_size ", c.vocab_size, " != vocab_size ", lm_rows);
  c.seq_length = cfg::get_int_or(j, "seq_length", 2048, path);
  c.max_position_embeddings = cfg::has(j, "max_position_embeddings")
                                  ? cfg::get_int(j, "max_position_embeddings", path)
                                  : cfg::get_int_or(j, "n_positions", c.seq_length, path);
  c.rms_norm_eps = static_cast<float>(cfg::get_double_or(j, "layer_norm_epsilon", 1e-6, path));
  c.rope_theta = cfg::get_double_or(j, "rotary_emb_base", 10000.0, path);
  c.rotary_dim = static_cast<int>(c.head_dim * cfg::get_double_or(j, "rotary_pct", 1.0, path));
  c.qkv_bias = true;  // c_attn always has a bias, independent of no_bias
  c.logn_attn = cfg::get_bool_or(j, "use_logn_attn", true, path);
  c.dynamic_ntk = cfg::get_bool_or(j, "use_dynamic_ntk", true, path);
  c.tie_embeddings = cfg::get_bool_or(j, "tie_word_embeddings", false, path);
  c.bos_token_id = cfg::get_int_or(j, "bos_token_id", -1, path);
  c.eos_token_ids = cfg::get_ids(j, "eos_token_id", path);
  return c;
}

void map(const ModelConfig& c, const TensorFetch& get, const TensorExists&, ModelWeights& w) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim();
  w.embed = get("transformer.wte.weight", {V, C});
  w.final_norm = get("transformer.ln_f.weight", {C});
  w.lm_head = c.tie_embeddings ? w.embed : get("lm_head.weight", {V, C});
  w.layers.resize(static_cast<size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "transformer.h." + std::to_string(i) + ".";
    l.input_norm = get(p + "ln_1.weight", {C});
    TensorView qkv = get(p + "attn.c_attn.weight", {3 * Q, C});
    TensorView qkv_b = get(p + "attn.c_attn.bias", {3 * Q});
    l.q = qkv.rows(0, Q);
    l.k = qkv.rows(Q, Q);
    l.v = qkv.rows(2 * Q, Q);
    l.q_bias = qkv_b.rows(0, Q);
    l.k_bias = qkv_b.rows(Q, Q);
    l.v_bias = qkv_b.rows(2 * Q, Q);
    l.o = get(p + "attn.c_proj.weight", {C, Q});
    l.post_norm = get(p + "ln_2.weight", {C});
    l.up = get(p + "mlp.w1.weight", {F, C});
    l.gate = get(p + "mlp.w2.weight", {F, C});
    l.down = get(p + "mlp.c_proj.weight", {C, F});
  }
}

std::string checkpoint_name(const std::string& canonical) {
  // canonical (Qwen2-style) -> Qwen1 names; q/k/v are saved fused by the writer, not here.
  static const std::pair<const char*, const char*> kMap[] = {
      {"model.embed_tokens.weight", "transformer.wte.weight"},
      {"model.norm.weight", "transformer.ln_f.weight"},
      {"input_layernorm.weight", "ln_1.weight"},
      {"post_attention_layernorm.weight", "ln_2.weight"},
      {"self_attn.o_proj.weight", "attn.c_proj.weight"},
      {"mlp.up_proj.weight", "mlp.w1.weight"},
      {"mlp.gate_proj.weight", "mlp.w2.weight"},
      {"mlp.down_proj.weight", "mlp.c_proj.weight"},
  };
  std::string layer_prefix = "model.layers.";
  for (const auto& [from, to] : kMap) {
    if (canonical == from) return to;
  }
  if (canonical.rfind(layer_prefix, 0) == 0) {
    size_t dot = canonical.find('.', layer_prefix.size());
    std::string idx = canonical.substr(layer_prefix.size(), dot - layer_prefix.size());
    std::string rest = canonical.substr(dot + 1);
    for (const auto& [from, to] : kMap)
      if (rest == from) return "transformer.h." + idx + "." + to;
  }
  return canonical;
}

}  // namespace

const ModelFamilyLoader& qwen1_family() {
  static const ModelFamilyLoader f{{"QWenLMHeadModel"}, parse, map, checkpoint_name};
  return f;
}

}  // namespace dm
