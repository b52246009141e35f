#include "devops_model/model/random_init.h"

#include <filesystem>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/model/family.h"

namespace dm {

namespace fs = std::filesystem;

namespace {

ModelConfig qwen2_shape(int hidden, int layers, int heads, int kv, int inter, int vocab, bool tie) {
  ModelConfig c;
  c.family = ModelFamily::kQwen2;
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

ModelConfig qwen1_shape(int hidden, int layers, int heads, int inter_half, int vocab, int seq_length) {
  ModelConfig c;
  c.family = ModelFamily::kQwen1;
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

// splitmix64: tiny, fast, and splittable by offset so threads fill disjoint ranges reproducibly.
inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void fill_uniform(float* out, int64_t n, uint64_t seed, float a) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double u = static_cast<double>(mix(seed ^ mix(static_cast<uint64_t>(i))) >> 11) * 0x1.0p-53;
      out[i] = static_cast<float>((2.0 * u - 1.0) * a);
    }
  });
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = seed;
  for (char ch : name) h = mix(h ^ static_cast<uint8_t>(ch));
  return h;
}

}  // namespace

std::vector<std::string> shape_preset_names() {
  return {"qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", "qwen3-0.6b", "qwen-7b", "qwen-14b"};
}

ModelConfig shape_preset(const std::string& name) {
  if (name == "qwen2.5-0.5b") return qwen2_shape(896, 24, 14, 2, 4864, 151936, true);
  if (name == "qwen2.5-1.5b") return qwen2_shape(1536, 28, 12, 2, 8960, 151936, true);
  if (name == "qwen2.5-7b") return qwen2_shape(3584, 28, 28, 4, 18944, 152064, false);
  if (name == "qwen3-0.6b") {
    ModelConfig c = qwen2_shape(1024, 28, 16, 8, 3072, 151936, true);
    c.family = ModelFamily::kQwen3;
    c.architecture = "Qwen3ForCausalLM";
    c.head_dim = c.rotary_dim = 128;
    c.qkv_bias = false;
    c.qk_norm = true;
    c.max_position_embeddings = 40960;
    return c;
  }
  if (name == "qwen-7b") return qwen1_shape(4096, 32, 32, 11008, 151936, 8192);
  if (name == "qwen-14b") return qwen1_shape(5120, 40, 40, 13696, 152064, 2048);
  std::string all;
  for (const auto& n : shape_preset_names()) all += (all.empty() ? "" : ", ") + n;
  fail(ErrorKind::kInvalidArgument, "unknown shape \"", name, "\"; known: ", all);
}

std::vector<TensorSpec> checkpoint_tensor_specs(const ModelConfig& c) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim(),
                D = c.head_dim;
  std::vector<TensorSpec> s;
  const bool q1 = c.family == ModelFamily::kQwen1;
  s.push_back({q1 ? "transformer.wte.weight" : "model.embed_tokens.weight", {V, C}, false});
  for (int i = 0; i < c.num_layers; ++i) {
    if (q1) {
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      s.push_back({p + "ln_1.weight", {C}, true});
      s.push_back({p + "attn.c_attn.weight", {3 * Q, C}, false});
      s.push_back({p + "attn.c_attn.bias", {3 * Q}, false});
      s.push_back({p + "attn.c_proj.weight", {C, Q}, false});
      s.push_back({p + "ln_2.weight", {C}, true});
      s.push_back({p + "mlp.w1.weight", {F, C}, false});
      s.push_back({p + "mlp.w2.weight", {F, C}, false});
      s.push_back({p + "mlp.c_proj.weight", {C, F}, false});
      continue;
    }
    const std::string p = "model.layers." + std::to_string(i) + ".";
    s.push_back({p + "input_layernorm.weight", {C}, true});
    s.push_back({p + "self_attn.q_proj.weight", {Q, C}, false});
    s.push_back({p + "self_attn.k_proj.weight", {KV, C}, false});
    s.push_back({p + "self_attn.v_proj.weight", {KV, C}, false});
    if (c.qkv_bias) {
      s.push_back({p + "self_attn.q_proj.bias", {Q}, false});
      s.push_back({p + "self_attn.k_proj.bias", {KV}, false});
      s.push_back({p + "self_attn.v_proj.bias", {KV}, false});
    }
    if (c.qk_norm) {
      s.push_back({p + "self_attn.q_norm.weight", {D}, true});
      s.push_back({p + "self_attn.k_norm.weight", {D}, true});
    }
    s.push_back({p + "self_attn.o_proj.weight", {C, Q}, false});
    s.push_back({p + "post_attention_layernorm.weight", {C}, true});
    s.push_back({p + "mlp.gate_proj.weight", {F, C}, false});
    s.push_back({p + "mlp.up_proj.weight", {F, C}, false});
    s.push_back({p + "mlp.down_proj.weight", {C, F}, false});
  }
  s.push_back({q1 ? "transformer.ln_f.weight" : "model.norm.weight", {C}, true});
  if (!c.tie_embeddings) s.push_back({"lm_head.weight", {V, C}, false});
  return s;
}

namespace {
// Fills one tensor's f32 values: norms 1, everything else uniform with std init_std.
void init_tensor(const TensorSpec& sp, uint64_t seed, float init_std, float* out) {
  const int64_t n = shape_numel(sp.shape);
  if (sp.is_norm) {
    std::fill(out, out + n, 1.0f);
  } else {
    fill_uniform(out, n, name_seed(seed, sp.name), init_std * 1.7320508f);  // U(-a, a) has std a/sqrt(3)
  }
}
}  // namespace

void write_random_checkpoint(const ModelConfig& c, const std::string& dir, DType dtype, uint64_t seed,
                             float init_std) {
  c.validate("random checkpoint");
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16)
    fail(ErrorKind::kInvalidArgument, "random checkpoint dtype must be F32, BF16 or F16");
  fs::create_directories(dir);
  std::vector<TensorSpec> specs = checkpoint_tensor_specs(c);
  std::vector<SafetensorsWriter::Spec> ws;
  for (const auto& s : specs) ws.push_back({s.name, dtype, s.shape});
  SafetensorsWriter w((fs::path(dir) / "model.safetensors").string(), ws);
  std::vector<float> f;
  std::vector<uint16_t> h;
  for (const auto& sp : specs) {
    const size_t n = static_cast<size_t>(shape_numel(sp.shape));
    f.resize(n);
    init_tensor(sp, seed, init_std, f.data());
    if (dtype == DType::kF32) {
      w.write_next(f.data(), n * 4);
      continue;
    }
    h.resize(n);
    for (size_t i = 0; i < n; ++i) h[i] = dtype == DType::kBF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
    w.write_next(h.data(), n * 2);
  }
  w.commit();
  nlohmann::json cfg = config_to_hf_json(c);
  cfg["torch_dtype"] = dtype == DType::kF32 ? "float32" : dtype == DType::kBF16 ? "bfloat16" : "float16";
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
}

std::unique_ptr<Model> random_model(const ModelConfig& c, uint64_t seed, float init_std) {
  c.validate("random model");
  auto store = std::make_shared<WeightStore>();
  std::map<std::string, TensorView> by_name;
  for (const auto& sp : checkpoint_tensor_specs(c)) {
    Tensor t(DType::kF32, sp.shape);
    init_tensor(sp, seed, init_std, t.f32());
    by_name[sp.name] = store->own(std::move(t));
  }
  TensorFetch fetch = [&](const std::string& name, const Shape&) { return by_name.at(name); };
  TensorExists exists = [&](const std::string& name) { return by_name.count(name) != 0; };
  ModelWeights w;
  (c.family == ModelFamily::kQwen1 ? qwen1_family() : qwen2_family()).map_weights(c, fetch, exists, w);
  return std::make_unique<Model>(c, store, std::move(w));
}

}  // namespace dm
