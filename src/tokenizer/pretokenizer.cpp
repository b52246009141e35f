#include "pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "devops_model/core/error.h"

namespace dm {
namespace {

// Unicode White_Space, the meaning of \s in Python's `regex`, Rust's regex and Oniguruma.
constexpr std::string_view kWhiteSpaceItems =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

}  // namespace

std::string rewrite_whitespace_classes(std::string_view p) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      ++i;
      if (n == 's') {
        out += in_class ? std::string(kWhiteSpaceItems) : "[" + std::string(kWhiteSpaceItems) + "]";
      } else if (n == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpaceItems) + "]";
      } else if (n == 'S') {
        fail(ErrorKind::kUnsupported, "split regex: \\S inside a character class is not supported");
      } else {
        out += c;
        out += n;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // literal ']' first in class
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

Pretokenizer::Pretokenizer(std::string_view pattern) : pattern_(pattern) {
  const std::string rewritten = rewrite_whitespace_classes(pattern);
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(ErrorKind::kFormat, "split regex rejected by PCRE2 at offset ", off, ": ", reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort: without JIT matching is just slower
  code_ = code;
}

Pretokenizer::~Pretokenizer() { pcre2_code_free(as_code(code_)); }

void Pretokenizer::split(std::string_view text, const std::function<void(std::string_view)>& fn) const {
  if (text.empty()) return;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> holder(
      pcre2_match_data_create_from_pattern(as_code(code_), nullptr), &pcre2_match_data_free);
  pcre2_match_data* md = holder.get();
  DM_CHECK(md != nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(as_code(code_), subject, text.size(), pos, 0, md, nullptr);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
      // JIT stack exhausted on a huge piece: the interpreter has its own (heap) limits.
      rc = pcre2_match(as_code(code_), subject, text.size(), pos, PCRE2_NO_JIT, md, nullptr);
    }
    if (rc < 0) {
      fn(text.substr(pos));  // no match (or still an error): keep the rest as one piece
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t s = ov[0], e = ov[1];
    if (s > pos) fn(text.substr(pos, s - pos));
    if (e <= s) {  // cannot happen with Qwen's pattern (no empty alternative); guard custom ones
      fn(text.substr(s, 1));
      pos = s + 1;
      continue;
    }
    fn(text.substr(s, e - s));
    pos = e;
  }
}

}  // namespace dm
