// Qwen1 (QWenLMHeadModel: Qwen-7B/14B, DevOps-Model-7B/14B), everything of it in one file: both config key
// generations, the checkpoint names (q/k/v fused in c_attn: split into row views on load, concatenated
// on save; mlp.w1 is up, mlp.w2 is gate: silu applies to w2), PEFT module names for LoRA, the chat
// format of Qwen-7B-Chat and the real shapes.
#include "devops_model/core/error.h"
#include "model/family.h"

namespace dm {

namespace {

ModelConfig parse(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
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
  const double rotary_pct = cfg::get_double_or(j, "rotary_pct", 1.0, path);
  // Checked before the cast: a huge or negative fraction would overflow int.
  if (!(rotary_pct > 0 && rotary_pct <= 1)) fail(ErrorKind::kFormat, path, ": \"rotary_pct\" must be in (0, 1]");
  c.rotary_dim = static_cast<int>(c.head_dim * rotary_pct);
  c.qkv_bias = true;  // c_attn always has a bias, independent of no_bias
  c.logn_attn = cfg::get_bool_or(j, "use_logn_attn", true, path);
  c.dynamic_ntk = cfg::get_bool_or(j, "use_dynamic_ntk", true, path);
  c.tie_embeddings = cfg::get_bool_or(j, "tie_word_embeddings", false, path);
  c.bos_token_id = cfg::get_int_or(j, "bos_token_id", -1, path);
  c.eos_token_ids = cfg::get_ids(j, "eos_token_id", path);
  return c;
}

nlohmann::json config_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"QWenLMHeadModel"};
  j["model_type"] = "qwen";
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size * 2;  // Qwen1 stores twice the MLP width
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["kv_channels"] = c.head_dim;
  j["layer_norm_epsilon"] = c.rms_norm_eps;
  j["rotary_emb_base"] = c.rope_theta;
  j["rotary_pct"] = static_cast<double>(c.rotary_dim) / c.head_dim;
  j["seq_length"] = c.seq_length;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["use_dynamic_ntk"] = c.dynamic_ntk;
  j["use_logn_attn"] = c.logn_attn;
  j["no_bias"] = true;
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tie_embeddings;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return nlohmann::json(j);
}

// llama.cpp's `qwen` architecture. It has no logn scaling and no dynamic NTK; we keep both (the model was
// trained and evaluated with them; below the training length they change nothing), with the training
// length from qwen.context_length, which llama.cpp's converter writes from seq_length.
ModelConfig parse_gguf(const GgufMetadata& md, const std::string&, const GgufTensors& t) {
  ModelConfig c;
  c.architecture = "QWenLMHeadModel";
  c.hidden_size = cfg::narrow(md.get_int("qwen.embedding_length"), "qwen.embedding_length", md.path);
  c.num_layers = cfg::narrow(md.get_int("qwen.block_count"), "qwen.block_count", md.path);
  c.num_heads = c.num_kv_heads =
      cfg::narrow(md.get_int("qwen.attention.head_count"), "qwen.attention.head_count", md.path);
  c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
  c.intermediate_size = cfg::narrow(md.get_int("qwen.feed_forward_length") / 2, "qwen.feed_forward_length",
                                    md.path);  // HF's doubled width
  c.seq_length = cfg::gguf_int_or(md, "qwen.context_length", 2048);
  c.max_position_embeddings = c.seq_length;
  c.rms_norm_eps = static_cast<float>(md.get_float_or("qwen.attention.layer_norm_rms_epsilon", 1e-6));
  c.rope_theta = md.get_float_or("qwen.rope.freq_base", 10000.0);
  c.rotary_dim = cfg::gguf_int_or(md, "qwen.rope.dimension_count", c.head_dim);
  c.qkv_bias = c.logn_attn = c.dynamic_ntk = true;
  if (!t.has("token_embd.weight")) fail(ErrorKind::kFormat, md.path, ": missing tensor \"token_embd.weight\"");
  c.vocab_size = cfg::narrow(t.shape("token_embd.weight").at(0), "token_embd.weight rows", md.path);
  c.tie_embeddings = !t.has("output.weight");
  c.bos_token_id = cfg::gguf_int_or(md, "tokenizer.ggml.bos_token_id", -1);
  const int eos = cfg::gguf_int_or(md, "tokenizer.ggml.eos_token_id", -1);
  if (eos >= 0) c.eos_token_ids = {eos};
  return c;
}

void gguf_config(const ModelConfig& c, GgufMetadata& md) {
  md.set("qwen.context_length", gguf_u32(static_cast<uint32_t>(c.seq_length)));
  md.set("qwen.block_count", gguf_u32(static_cast<uint32_t>(c.num_layers)));
  md.set("qwen.embedding_length", gguf_u32(static_cast<uint32_t>(c.hidden_size)));
  md.set("qwen.feed_forward_length", gguf_u32(static_cast<uint32_t>(c.intermediate_size * 2)));
  md.set("qwen.rope.freq_base", gguf_f32(static_cast<float>(c.rope_theta)));
  md.set("qwen.rope.dimension_count", gguf_u32(static_cast<uint32_t>(c.rotary_dim)));
  md.set("qwen.attention.head_count", gguf_u32(static_cast<uint32_t>(c.num_heads)));
  md.set("qwen.attention.layer_norm_rms_epsilon", gguf_f32(c.rms_norm_eps));
}

std::vector<TensorBinding> tensors(const ModelConfig& c, ModelWeights& w) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KVD = c.kv_dim();
  using B = TensorBinding;
  std::vector<B> t;
  t.push_back(B::one("transformer.wte.weight", {V, C}, &w.embed));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "transformer.h." + std::to_string(i) + ".";
    t.push_back(B::one(p + "ln_1.weight", {C}, &l.input_norm, true));
    t.push_back(B{p + "attn.c_attn.weight", {Q + 2 * KVD, C}, {{&l.q, Q}, {&l.k, KVD}, {&l.v, KVD}}});
    t.push_back(B{p + "attn.c_attn.bias", {Q + 2 * KVD}, {{&l.q_bias, Q}, {&l.k_bias, KVD}, {&l.v_bias, KVD}}});
    t.push_back(B::one(p + "attn.c_proj.weight", {C, Q}, &l.o));
    t.push_back(B::one(p + "ln_2.weight", {C}, &l.post_norm, true));
    t.push_back(B::one(p + "mlp.w1.weight", {F, C}, &l.up));
    t.push_back(B::one(p + "mlp.w2.weight", {F, C}, &l.gate));
    t.push_back(B::one(p + "mlp.c_proj.weight", {C, F}, &l.down));
  }
  t.push_back(B::one("transformer.ln_f.weight", {C}, &w.final_norm, true));
  if (!c.tie_embeddings) t.push_back(B::one("lm_head.weight", {V, C}, &w.lm_head));
  return t;
}

std::string lora_module(int layer, Proj p) {
  static const char* kModules[] = {"attn.c_attn", "attn.c_attn", "attn.c_attn", "attn.c_proj",
                                   "mlp.w2",      "mlp.w1",      "mlp.c_proj"};
  return "transformer.h." + std::to_string(layer) + "." + kModules[static_cast<int>(p)];
}

ModelConfig shape(int hidden, int layers, int heads, int inter_half, int vocab, int seq_length) {
  ModelConfig c;
  c.architecture = "QWenLMHeadModel";
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = c.num_kv_heads = heads;
  c.head_dim = c.rotary_dim = 128;
  c.intermediate_size = inter_half;
  c.vocab_size = vocab;
  c.seq_length = seq_length;
  c.max_position_embeddings = 8192;
  c.rope_theta = 10000;
  c.qkv_bias = c.logn_attn = c.dynamic_ntk = true;
  c.eos_token_ids = {151643};
  return c;
}

}  // namespace

const Family& qwen1_family() {
  static const Family f{
      .name = "qwen",
      .architectures = {"QWenLMHeadModel"},
      .parse_config = parse,
      .config_json = config_json,
      .tensors = tensors,
      .lora_module = lora_module,
      .gguf_architectures = {"qwen"},
      .parse_gguf = parse_gguf,
      .gguf_config = gguf_config,
      // mlp.w1 is up and mlp.w2 the gate in llama.cpp too.
      .gguf_names = {"transformer.h.",
                     {{"transformer.wte.weight", "token_embd.weight"},
                      {"transformer.ln_f.weight", "output_norm.weight"},
                      {"lm_head.weight", "output.weight"}},
                     {{"ln_1.weight", "attn_norm.weight"},
                      {"attn.c_attn.weight", "attn_qkv.weight"},
                      {"attn.c_attn.bias", "attn_qkv.bias"},
                      {"attn.c_proj.weight", "attn_output.weight"},
                      {"ln_2.weight", "ffn_norm.weight"},
                      {"mlp.w1.weight", "ffn_up.weight"},
                      {"mlp.w2.weight", "ffn_gate.weight"},
                      {"mlp.c_proj.weight", "ffn_down.weight"}}},
      .chat_format = ChatFormat::kQwen1,
      // make_context's default (Qwen-7B-Chat's generation uses it when no system is given)
      .default_system_prompt = [](const ModelConfig&) { return std::string("You are a helpful assistant."); },
      .shapes = {{"qwen-7b", shape(4096, 32, 32, 11008, 151936, 8192)},
                 {"qwen-14b", shape(5120, 40, 40, 13696, 152064, 2048)}},
  };
  return f;
}

}  // namespace dm
