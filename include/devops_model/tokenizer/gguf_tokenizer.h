// A tokenizer as GGUF metadata (llama.cpp's `gpt2` byte-level BPE keys), for writing GGUF model files.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "devops_model/formats/gguf.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

struct GgufTokenizerIds {
  int32_t vocab_size = 0;    // token rows of the model; ids the tokenizer lacks become [PADn], unused
  int32_t bos = -1;          // -1: none
  std::vector<int32_t> eos;  // the first is eos_token_id
  int32_t padding = -1;
};

// The tokenizer of a GGUF file's metadata (Tokenizer::from_file does this for a .gguf path); errors name
// md.path and the key.
std::unique_ptr<Tokenizer> tokenizer_from_gguf(const GgufMetadata& md);

// Sets tokenizer.ggml.model/pre/tokens/token_type/merges and the special ids: tokens in GPT-2's unicode
// spelling, special added tokens CONTROL (3), other added tokens USER_DEFINED (4); merges as "A B" in
// priority order (rebuilt from the ranks for a qwen.tiktoken vocabulary); pre "qwen2" for Qwen's split
// regex, "gpt-2" for GPT-2's (Error(kUnsupported) for another).
void add_gguf_tokenizer(const Tokenizer& tok, const GgufTokenizerIds& ids, GgufMetadata& meta);

}  // namespace dm
