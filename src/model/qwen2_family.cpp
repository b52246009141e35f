// Qwen2 / Qwen2.5 (Qwen2ForCausalLM) and Qwen3 (Qwen3ForCausalLM), everything of them in one file: HF
// Llama-style names (the canonical names of ModelWeights), q/k/v biases (Qwen2) or q_norm/k_norm and an
// explicit head_dim (Qwen3), PEFT module names, ChatML defaults and the real shapes.
#include <algorithm>

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

// llama.cpp's keys ("<arch>.block_count", ...) and the tensors that are there (biases, q/k norms, an
// untied output matrix).
ModelConfig parse_gguf(const GgufMetadata& md, const std::string& arch, const GgufTensors& t) {
  const auto key = [&](const char* k) { return arch + "." + k; };
  ModelConfig c;
  c.architecture = arch == "qwen3" ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM";
  c.hidden_size = cfg::narrow(md.get_int(key("embedding_length")), key("embedding_length"), md.path);
  c.num_layers = cfg::narrow(md.get_int(key("block_count")), key("block_count"), md.path);
  c.num_heads = cfg::narrow(md.get_int(key("attention.head_count")), key("attention.head_count"), md.path);
  c.num_kv_heads = cfg::gguf_int_or(md, key("attention.head_count_kv"), c.num_heads);
  c.head_dim = cfg::gguf_int_or(md, key("attention.key_length"), c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.intermediate_size = cfg::narrow(md.get_int(key("feed_forward_length")), key("feed_forward_length"), md.path);
  c.max_position_embeddings = cfg::gguf_int_or(md, key("context_length"), 32768);
  c.rms_norm_eps = static_cast<float>(md.get_float_or(key("attention.layer_norm_rms_epsilon"), 1e-6));
  c.rope_theta = md.get_float_or(key("rope.freq_base"), 10000.0);
  c.rotary_dim = cfg::gguf_int_or(md, key("rope.dimension_count"), c.head_dim);
  if (c.rotary_dim != c.head_dim)
    fail(ErrorKind::kUnsupported, md.path, ": ", key("rope.dimension_count"), " ", c.rotary_dim, " != head dim ",
         c.head_dim, " (partial rotary is not supported for ", arch, ")");
  const auto scaling = md.get_string_opt(key("rope.scaling.type"));
  if (scaling && *scaling != "none")
    fail(ErrorKind::kUnsupported, md.path, ": ", key("rope.scaling.type"), " \"", *scaling, "\" is not supported");
  if (!t.has("token_embd.weight")) fail(ErrorKind::kFormat, md.path, ": missing tensor \"token_embd.weight\"");
  c.vocab_size = cfg::narrow(t.shape("token_embd.weight").at(0), "token_embd.weight rows", md.path);
  c.tie_embeddings = !t.has("output.weight");
  c.qkv_bias = t.has("blk.0.attn_q.bias");
  c.qk_norm = t.has("blk.0.attn_q_norm.weight");
  if (arch == "qwen3" && !c.qk_norm) fail(ErrorKind::kFormat, md.path, ": qwen3 without blk.0.attn_q_norm.weight");
  c.bos_token_id = cfg::gguf_int_or(md, "tokenizer.ggml.bos_token_id", -1);
  for (const char* k : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    const int id = cfg::gguf_int_or(md, k, -1);
    if (id >= 0 && std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end())
      c.eos_token_ids.push_back(id);
  }
  return c;
}

void gguf_config(const ModelConfig& c, GgufMetadata& md) {
  const std::string arch = is_qwen3(c) ? "qwen3" : "qwen2";
  md.set(arch + ".block_count", gguf_u32(static_cast<uint32_t>(c.num_layers)));
  md.set(arch + ".context_length", gguf_u32(static_cast<uint32_t>(c.max_position_embeddings)));
  md.set(arch + ".embedding_length", gguf_u32(static_cast<uint32_t>(c.hidden_size)));
  md.set(arch + ".feed_forward_length", gguf_u32(static_cast<uint32_t>(c.intermediate_size)));
  md.set(arch + ".attention.head_count", gguf_u32(static_cast<uint32_t>(c.num_heads)));
  md.set(arch + ".attention.head_count_kv", gguf_u32(static_cast<uint32_t>(c.num_kv_heads)));
  if (is_qwen3(c) || c.head_dim * c.num_heads != c.hidden_size) {
    md.set(arch + ".attention.key_length", gguf_u32(static_cast<uint32_t>(c.head_dim)));
    md.set(arch + ".attention.value_length", gguf_u32(static_cast<uint32_t>(c.head_dim)));
  }
  md.set(arch + ".rope.freq_base", gguf_f32(static_cast<float>(c.rope_theta)));
  md.set(arch + ".attention.layer_norm_rms_epsilon", gguf_f32(c.rms_norm_eps));
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
      .gguf_architectures = {"qwen2", "qwen3"},
      .parse_gguf = parse_gguf,
      .gguf_config = gguf_config,
      .gguf_names = {"model.layers.",
                     {{"model.embed_tokens.weight", "token_embd.weight"},
                      {"model.norm.weight", "output_norm.weight"},
                      {"lm_head.weight", "output.weight"}},
                     {{"input_layernorm.weight", "attn_norm.weight"},
                      {"self_attn.q_proj.weight", "attn_q.weight"},
                      {"self_attn.k_proj.weight", "attn_k.weight"},
                      {"self_attn.v_proj.weight", "attn_v.weight"},
                      {"self_attn.q_proj.bias", "attn_q.bias"},
                      {"self_attn.k_proj.bias", "attn_k.bias"},
                      {"self_attn.v_proj.bias", "attn_v.bias"},
                      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
                      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
                      {"self_attn.o_proj.weight", "attn_output.weight"},
                      {"post_attention_layernorm.weight", "ffn_norm.weight"},
                      {"mlp.gate_proj.weight", "ffn_gate.weight"},
                      {"mlp.up_proj.weight", "ffn_up.weight"},
                      {"mlp.down_proj.weight", "ffn_down.weight"}}},
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
