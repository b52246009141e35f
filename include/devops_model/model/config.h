// ModelConfig: the decoder's hyper-parameters and the switches that tell the families apart.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dm {

struct ModelConfig {
  std::string architecture = "Qwen2ForCausalLM";  // as in config.json; names the family (model/family.h)
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;           // explicit for Qwen3, hidden/heads otherwise
  int intermediate_size = 0;  // SwiGLU width actually used (Qwen1: config value / 2)
  int vocab_size = 0;         // rows of the embedding / lm_head
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 10000.0;
  int rotary_dim = 0;  // = head_dim (Qwen1: head_dim * rotary_pct)

  // Switches (the only differences between families in the forward pass).
  bool qkv_bias = false;        // Qwen1, Qwen2
  bool qk_norm = false;         // Qwen3: RMSNorm over head_dim on q and k before RoPE
  bool tie_embeddings = false;  // lm_head = embed_tokens
  bool logn_attn = false;       // Qwen1: q *= log(p+1)/log(seq_length) past seq_length
  bool dynamic_ntk = false;     // Qwen1: rope base scaled by alpha fixed at prefill
  int seq_length = 0;           // Qwen1 training length for logn / NTK

  // Token ids from config.json (-1 = absent).
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;

  int q_dim() const { return num_heads * head_dim; }
  // Longest context the model serves: max_position_embeddings, or Qwen1's logn table (32767 positions)
  // when dynamic NTK stretches RoPE past the training length.
  int context_length() const {
    if (dynamic_ntk && max_position_embeddings < 32767) return 32767;
    return max_position_embeddings > 0 ? max_position_embeddings : 32768;
  }
  int kv_dim() const { return num_kv_heads * head_dim; }
  // Throws Error(kFormat) naming `what` when a value is impossible.
  void validate(const std::string& what) const;
};

// Reads and validates a config.json (file, or text with `what` naming it in messages) through its family:
// Error(kFormat) naming the file and key, Error(kUnsupported) for an unknown architecture.
ModelConfig read_model_config(const std::string& path);
ModelConfig parse_model_config_text(const std::string& json_text, const std::string& what);

// What the chat layer needs of a model's family (decided in the family's file).
enum class ChatFormat {
  kQwen1,  // Qwen-7B-Chat's make_context prompt and _decode_chatml reply (QWenLMHeadModel)
  kChatMl  // the model's chat template (ChatML for Qwen2/3)
};
struct FamilyInfo {
  std::string name;  // "qwen", "qwen2"
  ChatFormat chat_format = ChatFormat::kChatMl;
  std::string default_system_prompt;  // when the model has no chat template ("" = none)
};
FamilyInfo family_info(const ModelConfig& c);

}  // namespace dm
