// Byte-level BPE tokenizer of the Qwen family (one implementation for qwen.tiktoken, tokenizer.json and
// vocab.json + merges.txt), with special/added tokens and Qwen's pre-tokenisation regex.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dm {

class GgufMetadata;

class Tokenizer {
 public:
  // From a model directory: tokenizer.json, else qwen.tiktoken (with Qwen1's special tokens),
  // else vocab.json + merges.txt; or from a GGUF model file's metadata. Error(kIo/kFormat) naming the
  // file when none is usable.
  static std::unique_ptr<Tokenizer> from_dir(const std::string& dir);
  // From one file: a tokenizer.json, a qwen.tiktoken, a vocab.json (merges.txt beside it) or a GGUF file.
  static std::unique_ptr<Tokenizer> from_file(const std::string& path);
  // From tokenizer.json text held in memory (`source` names it in errors).
  static std::unique_ptr<Tokenizer> from_tokenizer_json_text(std::string_view text, const std::string& source);
  ~Tokenizer();

  // allow_special: special/added tokens' surface strings become their ids; otherwise they are plain text.
  // NFC-normalises first where the tokenizer asks for it (tokenizer.json normaliser; Qwen1 always).
  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const;
  // Concatenated token bytes (special ids -> their surface string unless skip_special; ids with no token,
  // such as a model's padding rows, -> nothing). May hold incomplete UTF-8 at the end; use StreamDecoder
  // for incremental printing.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // Id of a whole token given by its surface text (special or regular), if any.
  std::optional<int32_t> token_id(std::string_view token) const;
  std::string token_bytes(int32_t id) const;
  bool is_special(int32_t id) const;
  int32_t vocab_size() const;         // 1 + the largest id (regular + special)
  const std::string& source() const;  // the file it was loaded from
  // Largest id the tokenizer file defines (regular and listed added tokens; qwen.tiktoken's ranks without
  // Qwen1's 208 built-in specials): what a model's embedding must have rows for.
  int32_t max_file_id() const;

  struct Impl;
  // The loaded vocabulary, merges and added tokens (for the tokenizer module's own writers).
  const Impl& impl() const { return *impl_; }

 private:
  friend std::unique_ptr<Tokenizer> tokenizer_from_gguf(const GgufMetadata& md);
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Incremental detokeniser: push ids as they are generated, get back only complete UTF-8 text.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = true);
  std::string push(int32_t id);  // text that became complete with this token (possibly empty)
  std::string flush();           // whatever is left (invalid tail bytes become U+FFFD)

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace dm
