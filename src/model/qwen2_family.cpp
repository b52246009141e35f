// Qwen2 / Qwen2.5 (Qwen2ForCausalLM) and Qwen3 (Qwen3ForCausalLM): HF Llama-style names; Qwen2 has q/k/v
// biases, Qwen3 has q_norm/k_norm and an explicit head_dim.
#include "devops_model/core/error.h"
#include "devops_model/model/family.h"

namespace dm {

namespace {

ModelConfig parse(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  std::string arch = j["architectures"][0].get<std::string>();
  c.family = arch == "Qwen3ForCausalLM" ? ModelFamily::kQwen3 : ModelFamily::kQwen2;
  c.architecture = arch;
  c.hidden_size = cfg::get_int(j, "hidden_size", path);
  c.num_layers = cfg::get_int(j, "num_hidden_layers", path);
  c.num_heads = cfg::get_int(j, "num_attention_heads", path);
  c.num_kv_heads = cfg::get_int_or(j, "num_key_value_heads", c.num_heads, path);
  c.head_dim = cfg::get_int_or(j, "head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0, path);
  c.intermediate_size = cfg::get_int(j, "intermediate_size", path);
  c.vocab_size = cfg::get_int(j, "vocab_size", path);
  c.max_position_embeddings = cfg::get_int_or(j, "max_position_embeddings", 32768, path);
  c.rms_norm_eps = static_cast<float>(cfg::get_double_or(j, "rms_norm_eps", 1e-6, path));
  c.rope_theta = cfg::get_double_or(j, "rope_theta", 10000.0, path);
  if (cfg::has(j, "rope_parameters") && j["rope_parameters"].is_object())
    c.rope_theta = cfg::get_double_or(j["rope_parameters"], "rope_theta", c.rope_theta, path);
  if (cfg::has(j, "rope_scaling"))
    fail(ErrorKind::kUnsupported, path, ": rope_scaling (YaRN etc.) is not supported; remove it for contexts up to ",
         c.max_position_embeddings);
  if (cfg::get_bool_or(j, "use_sliding_window", false, path))
    fail(ErrorKind::kUnsupported, path, ": use_sliding_window=true is not supported");
  c.rotary_dim = c.head_dim;
  c.tie_embeddings = cfg::get_bool_or(j, "tie_word_embeddings", false, path);
  if (c.family == ModelFamily::kQwen3) {
    c.qk_norm = true;
    c.qkv_bias = cfg::get_bool_or(j, "attention_bias", false, path);
  } else {
    c.qkv_bias = true;
  }
  c.bos_token_id = cfg::get_int_or(j, "bos_token_id", -1, path);
  c.eos_token_ids = cfg::get_ids(j, "eos_token_id", path);
  return c;
}

void map(const ModelConfig& c, const TensorFetch& get, const TensorExists& exists, ModelWeights& w) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim(),
                D = c.head_dim;
  w.embed = get("model.embed_tokens.weight", {V, C});
  w.final_norm = get("model.norm.weight", {C});
  // Tied checkpoints usually omit lm_head; an untied one must have it.
  w.lm_head = (c.tie_embeddings && !exists("lm_head.weight")) ? w.embed : get("lm_head.weight", {V, C});
  w.layers.resize(static_cast<size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    l.input_norm = get(p + "input_layernorm.weight", {C});
    l.q = get(p + "self_attn.q_proj.weight", {Q, C});
    l.k = get(p + "self_attn.k_proj.weight", {KV, C});
    l.v = get(p + "self_attn.v_proj.weight", {KV, C});
    if (c.qkv_bias) {
      l.q_bias = get(p + "self_attn.q_proj.bias", {Q});
      l.k_bias = get(p + "self_attn.k_proj.bias", {KV});
      l.v_bias = get(p + "self_attn.v_proj.bias", {KV});
    }
    if (c.qk_norm) {
      l.q_norm = get(p + "self_attn.q_norm.weight", {D});
      l.k_norm = get(p + "self_attn.k_norm.weight", {D});
    }
    l.o = get(p + "self_attn.o_proj.weight", {C, Q});
    l.post_norm = get(p + "post_attention_layernorm.weight", {C});
    l.gate = get(p + "mlp.gate_proj.weight", {F, C});
    l.up = get(p + "mlp.up_proj.weight", {F, C});
    l.down = get(p + "mlp.down_proj.weight", {C, F});
  }
}

}  // namespace

const ModelFamilyLoader& qwen2_family() {
  static const ModelFamilyLoader f{
      {"Qwen2ForCausalLM", "Qwen3ForCausalLM"}, parse, map, [](const std::string& n) { return n; }};
  return f;
}

}  // namespace dm
