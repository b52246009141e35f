// Generation settings as Hugging Face's generation_config.json holds them (spec C.3, D.6), with the
// defaults Qwen's chat() assumes when a key is absent. CLI flags override fields after loading.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dm {

struct GenerationParams {
  bool do_sample = false;           // HF default; Qwen chat checkpoints set true
  double temperature = 1.0;         // 0 means greedy (doubles: Python floats, cast as torch does)
  int top_k = 0;                    // 0 = off (Qwen writes 0 explicitly; HF's own default 50 is not used)
  double top_p = 0.8;               // spec C.3 default when absent; 1.0 = off
  double repetition_penalty = 1.0;  // 1.0 = off
  int max_new_tokens = 512;
  int max_window_size = 6144;          // Qwen1 make_context history budget
  std::string chat_format = "chatml";  // Qwen1: "chatml" or "raw"
  std::vector<int32_t> eos_token_ids;  // generation_config eos_token_id (int or list)
  std::optional<int32_t> pad_token_id;
  std::vector<std::vector<int32_t>> stop_words_ids;  // Qwen1 extra stop sequences
  uint64_t seed = 0;
  std::string source;  // the generation_config.json read ("" = defaults), named in errors

  // True when sampling reduces to argmax (do_sample false or temperature 0).
  bool greedy() const { return !do_sample || temperature <= 0.0; }
};

// Parses generation_config.json text; `source` names it in errors (kFormat with the field).
GenerationParams parse_generation_params(std::string_view json_text, const std::string& source);
// Every id (eos_token_id, pad_token_id, stop_words_ids) must be a row of the model's vocabulary:
// Error(kFormat) naming `p.source` and the field otherwise (a corrupt 1e6 would never stop a reply).
void check_generation_params(const GenerationParams& p, int32_t vocab_size);
// Reads a file; Error(kIo) if missing.
GenerationParams load_generation_params(const std::string& path);
// <dir>/generation_config.json when present, else the defaults.
GenerationParams generation_params_from_dir(const std::string& dir);

}  // namespace dm
