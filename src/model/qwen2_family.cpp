// Qwen2 / Qwen2.5 (Qwen2ForCausalLM) and Qwen3 (Qwen3ForCausalLM), everything of them in one file: HF
// Llama-style names (the canonical names of ModelWeights), q/k/v biases (Qwen2) or q_norm/k_norm and an
// explicit head_dim (Qwen3), PEFT module names, ChatML defaults and the real shapes.
#include "devops_model/core/error.h"
#include "model/family.h"

namespace dm {

namespace {

bool is_qwen3(const ModelConfig& c) { return c.architecture == "Qwen3ForCausalLM"; }

ModelConfig parse(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  c.architecture = j["architectures"][0].get<std::string>();
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
  if (is_qwen3(c)) {
    c.qk_norm = true;
    c.qkv_bias = cfg::get_bool_or(j, "attention_bias", false, path);
  } else {
    c.qkv_bias = true;
  }
  c.bos_token_id = cfg::get_int_or(j, "bos_token_id", -1, path);
  c.eos_token_ids = cfg::get_ids(j, "eos_token_id", path);
  return c;
}

nlohmann::json config_json(const ModelConfig& c) {
  const bool q3 = is_qwen3(c);
  nlohmann::ordered_json j;
  j["architectures"] = {c.architecture};
  j["model_type"] = q3 ? "qwen3" : "qwen2";
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  if (q3 || c.head_dim * c.num_heads != c.hidden_size) j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["vocab_size"] = c.vocab_size;
  j["hidden_act"] = "silu";
  j["use_sliding_window"] = false;
  if (q3) j["attention_bias"] = c.qkv_bias;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return nlohmann::json(j);
}

std::vector<TensorBinding> tensors(const ModelConfig& c, ModelWeights& w) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim(),
                D = c.head_dim;
  using B = TensorBinding;
  std::vector<B> t;
  t.push_back(B::one("model.embed_tokens.weight", {V, C}, &w.embed));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t.push_back(B::one(p + "input_layernorm.weight", {C}, &l.input_norm, true));
    t.push_back(B::one(p + "self_attn.q_proj.weight", {Q, C}, &l.q));
    t.push_back(B::one(p + "self_attn.k_proj.weight", {KV, C}, &l.k));
    t.push_back(B::one(p + "self_attn.v_proj.weight", {KV, C}, &l.v));
    if (c.qkv_bias) {
      t.push_back(B::one(p + "self_attn.q_proj.bias", {Q}, &l.q_bias));
      t.push_back(B::one(p + "self_attn.k_proj.bias", {KV}, &l.k_bias));
      t.push_back(B::one(p + "self_attn.v_proj.bias", {KV}, &l.v_bias));
    }
    if (c.qk_norm) {
      t.push_back(B::one(p + "self_attn.q_norm.weight", {D}, &l.q_norm, true));
      t.push_back(B::one(p + "self_attn.k_norm.weight", {D}, &l.k_norm, true));
    }
    t.push_back(B::one(p + "self_attn.o_proj.weight", {C, Q}, &l.o));
    t.push_back(B::one(p + "post_attention_layernorm.weight", {C}, &l.post_norm, true));
    t.push_back(B::one(p + "mlp.gate_proj.weight", {F, C}, &l.gate));
    t.push_back(B::one(p + "mlp.up_proj.weight", {F, C}, &l.up));
    t.push_back(B::one(p + "mlp.down_proj.weight", {C, F}, &l.down));
  }
  t.push_back(B::one("model.norm.weight", {C}, &w.final_norm, true));
  // Tied checkpoints usually omit lm_head (then it is the embedding); an untied one must have it.
  TensorBinding head = B::one("lm_head.weight", {V, C}, &w.lm_head);
  head.optional = c.tie_embeddings;
  t.push_back(head);
  return t;
}

std::string lora_module(int layer, Proj p) {
  const bool attn = p == Proj::kQ || p == Proj::kK || p == Proj::kV || p == Proj::kO;
  return "model.layers." + std::to_string(layer) + (attn ? ".self_attn." : ".mlp.") + proj_name(p);
}

ModelConfig shape(int hidden, int layers, int heads, int kv, int inter, int vocab, bool tie) {
  ModelConfig c;
  c.architecture = "Qwen2ForCausalLM";
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv;
  c.head_dim = hidden / heads;
  c.rotary_dim = c.head_dim;
  c.intermediate_size = inter;
  c.vocab_size = vocab;
  c.max_position_embeddings = 32768;
  c.rope_theta = 1e6;
  c.qkv_bias = true;
  c.tie_embeddings = tie;
  c.bos_token_id = 151643;
  c.eos_token_ids = {151645, 151643};
  return c;
}

ModelConfig qwen3_0_6b() {
  ModelConfig c = shape(1024, 28, 16, 8, 3072, 151936, true);
  c.architecture = "Qwen3ForCausalLM";
  c.head_dim = c.rotary_dim = 128;
  c.qkv_bias = false;
  c.qk_norm = true;
  c.max_position_embeddings = 40960;
  return c;
}

}  // namespace

const Family& qwen2_family() {
  static const Family f{
      .name = "qwen2",
      .architectures = {"Qwen2ForCausalLM", "Qwen3ForCausalLM"},
      .parse_config = parse,
      .config_json = config_json,
      .tensors = tensors,
      .lora_module = lora_module,
      .chat_format = ChatFormat::kChatMl,
      // Qwen2's chat template inserts this system turn when none is given; Qwen3's inserts none.
      .default_system_prompt =
          [](const ModelConfig& c) {
    return is_qwen3(c) ? std::string() : std::string("You are a helpful assistant.");
      },
      .shapes = {{"qwen2.5-0.5b", shape(896, 24, 14, 2, 4864, 151936, true)},
                 {"qwen2.5-1.5b", shape(1536, 28, 12, 2, 8960, 151936, true)},
                 {"qwen2.5-7b", shape(3584, 28, 28, 4, 18944, 152064, false)},
                 {"qwen3-0.6b", qwen3_0_6b()}},
      };
  return f;
}

}  // namespace dm
