// Fuzzes the model directory's JSON files: every input is parsed as config.json, generation_config.json
// and tokenizer.json. Each must be accepted (then sizes and ids are in their documented bounds) or refused
// with dm::Error; never a crash, a wrapped integer, an allocation sized by a corrupt value or a hang.
#include <cstdint>
#include <string>
#include <string_view>

#include "devops_model/core/error.h"
#include "devops_model/core/limits.h"
#include "devops_model/generate/generation_params.h"
#include "devops_model/model/config.h"
#include "devops_model/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const dm::ModelConfig c = dm::parse_model_config_text(std::string(text), "config.json");
    // Accepted sizes are the validated ones: the products the loader sizes buffers with fit int64 easily.
    if (c.vocab_size <= 0 || c.vocab_size > dm::kMaxVocabSize || c.num_layers <= 0) __builtin_trap();
  } catch (const dm::Error&) {
  }
  try {
    const dm::GenerationParams p = dm::parse_generation_params(text, "generation_config.json");
    if (p.max_new_tokens <= 0 || p.max_window_size <= 0) __builtin_trap();
    for (int32_t id : p.eos_token_ids)
      if (id < 0 || id >= dm::kMaxVocabSize) __builtin_trap();
  } catch (const dm::Error&) {
  }
  try {
    auto tok = dm::Tokenizer::from_tokenizer_json_text(text, "tokenizer.json");
    if (tok->vocab_size() > dm::kMaxVocabSize) __builtin_trap();
    (void)tok->encode("hi <|im_end|>", true);
  } catch (const dm::Error&) {
  }
  return 0;
}
