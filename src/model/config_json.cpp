// ModelConfig -> config.json in each family's own keys, so written checkpoints load in transformers.
#include "devops_model/model/family.h"

namespace dm {

nlohmann::json config_to_hf_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  if (c.family == ModelFamily::kQwen1) {
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
  } else {
    j["architectures"] = {c.family == ModelFamily::kQwen3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM"};
    j["model_type"] = c.family == ModelFamily::kQwen3 ? "qwen3" : "qwen2";
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.num_layers;
    j["num_attention_heads"] = c.num_heads;
    j["num_key_value_heads"] = c.num_kv_heads;
    if (c.family == ModelFamily::kQwen3 || c.head_dim * c.num_heads != c.hidden_size) j["head_dim"] = c.head_dim;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["tie_word_embeddings"] = c.tie_embeddings;
    j["vocab_size"] = c.vocab_size;
    j["hidden_act"] = "silu";
    j["use_sliding_window"] = false;
    if (c.family == ModelFamily::kQwen3) j["attention_bias"] = c.qkv_bias;
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return nlohmann::json(j);
}

}  // namespace dm
