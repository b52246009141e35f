// Private state of dm::Tokenizer, shared by the loaders (tiktoken_loader.cpp, hf_loader.cpp) and
// tokenizer.cpp.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpe.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "pretokenizer.h"

namespace dm {

struct AddedToken {
  std::string text;
  int32_t id;
  bool special;  // false: HF "added but not special" (still matched atomically, kept by skip_special)
};

struct Tokenizer::Impl {
  explicit Impl(BpeModel::Mode mode) : bpe(mode) {}

  BpeModel bpe;
  std::unique_ptr<Pretokenizer> pre;
  bool nfc = true;
  // Qwen1 normalises the whole text before looking for special tokens; HF splits added tokens off
  // first and normalises the segments between them.
  bool nfc_before_added = false;
  std::vector<AddedToken> added;
  std::unordered_map<int32_t, size_t> added_by_id;
  std::unordered_map<std::string, size_t> added_by_text;
  std::array<std::vector<size_t>, 256> added_by_first_byte;  // longest first
  int32_t vocab_size = 0;
  // Largest id the file itself defines; Qwen1's 208 built-in specials after qwen.tiktoken's ranks are
  // excluded (tiny checkpoints have fewer rows than them). -1: every id (set by finalize).
  int32_t file_max_id = -1;
  std::string source;  // file it was loaded from, for messages

  void add_token(std::string text, int32_t id, bool special);
  // Indexes `added` and computes vocab_size; call once when loading is done.
  void finalize();

  struct Match {
    size_t pos;
    size_t index;  // into added
  };
  // Leftmost, then longest, added token in text[from..) (only non-special ones unless allow_special).
  bool find_added(std::string_view text, size_t from, bool allow_special, Match* m) const;
};

// GPT-2's pre-tokeniser, for a ByteLevel pre_tokenizer with use_regex and no Split (and GGUF's "gpt-2").
inline constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Adds the merge of two byte-level tokens (GPT-2's unicode spelling) with `rank`; Error(kFormat) at
// `where` when either side or their concatenation is not in the vocabulary.
void add_merge(Tokenizer::Impl& im, std::string_view a, std::string_view b, int32_t rank, const std::string& where);

// Loaders (each fills a fresh Impl; errors name the file and line/field).
std::unique_ptr<Tokenizer::Impl> load_tiktoken(const std::string& path);
std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::string& path);
std::unique_ptr<Tokenizer::Impl> load_tokenizer_json_text(std::string_view text, const std::string& path);
std::unique_ptr<Tokenizer::Impl> load_vocab_json(const std::string& vocab_path);
std::unique_ptr<Tokenizer::Impl> load_gguf_tokenizer(const std::string& path);
std::unique_ptr<Tokenizer::Impl> gguf_tokenizer_impl(const GgufMetadata& md);

// GPT-2 bytes_to_unicode: the printable code point standing for each byte in vocab.json/tokenizer.json.
const std::array<uint32_t, 256>& byte_to_unicode();
// Inverse mapping of a byte-level string to raw bytes; false if a character is not in the table.
bool byte_level_decode(std::string_view s, std::string* out);

}  // namespace dm
