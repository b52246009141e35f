// UTF-8 scanning (maximal subparts as Python/Unicode define them), NFC via utf8proc, Python strip.
#include "devops_model/tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>

namespace dm {
namespace {

enum class Seq { kValid, kInvalid, kIncomplete };

// Examines the sequence at p[0..n): sets *len to the bytes it covers (a valid character, a maximal
// ill-formed subpart, or an incomplete-but-valid tail) and *cp to the code point when valid.
Seq scan(const unsigned char* p, size_t n, size_t* len, uint32_t* cp) {
  const unsigned char b = p[0];
  if (b < 0x80) {
    *len = 1;
    *cp = b;
    return Seq::kValid;
  }
  int need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *len = 1;
    return Seq::kInvalid;
  }
  uint32_t c = b & (0x3F >> need);
  size_t i = 1;
  for (; i <= static_cast<size_t>(need); ++i) {
    if (i >= n) {
      *len = i;
      return Seq::kIncomplete;
    }
    const unsigned char x = p[i];
    if (x < lo || x > hi) {
      *len = i;
      return Seq::kInvalid;
    }
    lo = 0x80;
    hi = 0xBF;
    c = (c << 6) | (x & 0x3F);
  }
  *len = i;
  *cp = c;
  return Seq::kValid;
}

bool is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Code points that NFC leaves alone whatever surrounds them: starters with NFC_QC=Yes that never
// compose with a following character (everything below U+0300, CJK unified ideographs, fullwidth
// ASCII). Lets the common case skip utf8proc entirely.
bool nfc_inert(uint32_t c) {
  return c < 0x300 || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xFF01 && c <= 0xFF5E) || (c >= 0x3001 && c <= 0x3029);
}

}  // namespace

size_t utf8_complete_prefix(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    uint32_t cp;
    if (scan(p + i, s.size() - i, &len, &cp) == Seq::kIncomplete) return i;
    i += len;
  }
  return i;
}

std::string utf8_replace_invalid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    uint32_t cp;
    if (scan(p + i, s.size() - i, &len, &cp) == Seq::kValid) {
      out.append(s.data() + i, len);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += len;
  }
  return out;
}

bool utf8_is_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    uint32_t cp;
    if (scan(p + i, s.size() - i, &len, &cp) != Seq::kValid) return false;
    i += len;
  }
  return true;
}

std::string nfc_normalize(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  bool inert = true;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t cp;
    if (scan(p + i, s.size() - i, &len, &cp) != Seq::kValid) return std::string(s);
    if (!nfc_inert(cp)) inert = false;
    i += len;
  }
  if (inert) return std::string(s);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(p, static_cast<utf8proc_ssize_t>(s.size()), &out,
                                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return std::string(s);
  std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return r;
}

std::string_view python_strip(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t begin = 0;
  while (begin < s.size()) {
    size_t len;
    uint32_t cp;
    if (scan(p + begin, s.size() - begin, &len, &cp) != Seq::kValid || !is_python_space(cp)) break;
    begin += len;
  }
  size_t end = begin;  // end of the last non-space character
  for (size_t i = begin; i < s.size();) {
    size_t len;
    uint32_t cp = 0;
    const bool valid = scan(p + i, s.size() - i, &len, &cp) == Seq::kValid;
    i += len;
    if (!valid || !is_python_space(cp)) end = i;
  }
  return s.substr(begin, end - begin);
}

}  // namespace dm
