// Qwen's pre-tokenisation regex (spec B.2) compiled with PCRE2 (UTF, UCP, JIT).
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace dm {

// The regex exactly as Qwen (tiktoken PAT_STR) and tokenizer.json write it.
inline constexpr std::string_view kQwenSplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class Pretokenizer {
 public:
  // `pattern` uses Python/Rust-regex syntax; \s and \S are rewritten to Unicode White_Space (PCRE2's
  // UCP \s would also take U+180E). Error(kFormat) if PCRE2 rejects the pattern.
  explicit Pretokenizer(std::string_view pattern = kQwenSplitRegex);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  // Calls fn for each piece in order; the pieces tile `text` exactly. Bytes the regex cannot match
  // (invalid UTF-8) become pieces of their own, so any byte string round-trips.
  void split(std::string_view text, const std::function<void(std::string_view)>& fn) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
};

// Rewrites \s / \S (outside and inside character classes) into explicit White_Space classes.
std::string rewrite_whitespace_classes(std::string_view pattern);

}  // namespace dm
