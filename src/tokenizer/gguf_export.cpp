// Tokenizer -> GGUF metadata: the inverse of gguf_loader.cpp, so that a file we write loads back to the
// same tokenizer here and in llama.cpp.
#include <algorithm>

#include "devops_model/core/error.h"
#include "devops_model/tokenizer/gguf_tokenizer.h"
#include "tokenizer_impl.h"

namespace dm {

namespace {

enum TokenType : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

// GPT-2's spelling of raw bytes: each byte's stand-in code point (all below U+0800), UTF-8 encoded.
std::string byte_level(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    const uint32_t cp = byte_to_unicode()[b];
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

std::string pre_name(const Pretokenizer& pre) {
  if (pre.pattern() == kQwenSplitRegex) return "qwen2";
  if (pre.pattern() == kGpt2Regex) return "gpt-2";
  fail(ErrorKind::kUnsupported, "GGUF export: the tokenizer's split regex has no llama.cpp pre-tokenizer name");
}

}  // namespace

void add_gguf_tokenizer(const Tokenizer& tok, const GgufTokenizerIds& ids, GgufMetadata& meta) {
  const Tokenizer::Impl& im = tok.impl();
  // As many tokens as the model has rows (llama.cpp checks): ids beyond are dropped, missing ones padded.
  const int32_t n = ids.vocab_size > 0 ? ids.vocab_size : im.vocab_size;
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<int32_t> types(static_cast<size_t>(n), kUnused);
  for (int32_t id = 0; id < n; ++id) {
    const auto i = static_cast<size_t>(id);
    if (im.bpe.has_id(id)) {
      tokens[i] = byte_level(im.bpe.bytes(id));
      types[i] = kNormal;
    } else {
      tokens[i] = "[PAD" + std::to_string(id) + "]";
    }
  }
  for (const AddedToken& a : im.added) {
    if (a.id < 0 || a.id >= n) continue;
    tokens[static_cast<size_t>(a.id)] = a.text;
    types[static_cast<size_t>(a.id)] = a.special ? kControl : kUserDefined;
  }
  std::vector<std::string> merges;
  for (const auto& [a, b] : im.bpe.merges_in_order())
    merges.push_back(byte_level(im.bpe.bytes(a)) + " " + byte_level(im.bpe.bytes(b)));
  meta.set("tokenizer.ggml.model", gguf_string("gpt2"));
  meta.set("tokenizer.ggml.pre", gguf_string(pre_name(*im.pre)));
  meta.set("tokenizer.ggml.tokens", gguf_strings(std::move(tokens)));
  meta.set("tokenizer.ggml.token_type", gguf_i32s(types));
  meta.set("tokenizer.ggml.merges", gguf_strings(std::move(merges)));
  if (ids.bos >= 0) meta.set("tokenizer.ggml.bos_token_id", gguf_u32(static_cast<uint32_t>(ids.bos)));
  if (!ids.eos.empty()) meta.set("tokenizer.ggml.eos_token_id", gguf_u32(static_cast<uint32_t>(ids.eos[0])));
  if (ids.padding >= 0) meta.set("tokenizer.ggml.padding_token_id", gguf_u32(static_cast<uint32_t>(ids.padding)));
  meta.set("tokenizer.ggml.add_bos_token", gguf_bool(false));
}

}  // namespace dm
