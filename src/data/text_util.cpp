#include "devops_model/data/text_util.h"

namespace dm::data {

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* e = p + s.size();
  while (p < e) {
    unsigned c = *p;
    if (c < 0x80) {
      out.push_back(c);
      ++p;
      continue;
    }
    int n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || e - p <= n) {
      out.push_back(0xFFFD);
      ++p;
      continue;
    }
    char32_t cp = c & (0x3F >> n);
    bool ok = true;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++p;
      continue;
    }
    out.push_back(cp);
    p += n + 1;
  }
  return out;
}

void append_utf8(std::u32string_view cps, std::string* out) {
  for (char32_t c : cps) {
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (c >> 6)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (c >> 12)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (c >> 18)));
      out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

std::string encode_utf8(std::u32string_view cps) {
  std::string s;
  append_utf8(cps, &s);
  return s;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x20000 && c <= 0x2FA1F);
}

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0xA0 || c == 0x3000 ||
         (c >= 0x2000 && c <= 0x200B) || c == 0x202F || c == 0x205F || c == 0xFEFF;
}

bool is_digit(char32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }

bool is_punct_or_symbol(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  if (c >= 0xA1 && c <= 0xBF) return true;      // Latin-1 punctuation/symbols
  if (c == 0xD7 || c == 0xF7) return true;      // × ÷
  if (c >= 0x2010 && c <= 0x2BFF) return true;  // general punctuation .. misc symbols, arrows
  if (c >= 0x3001 && c <= 0x303F) return true;  // CJK punctuation
  if (c >= 0x30FB && c <= 0x30FB) return true;  // katakana middle dot
  if (c >= 0xFE10 && c <= 0xFE6F) return true;  // vertical/small forms
  if (c >= 0xFF01 && c <= 0xFF65) {             // full-width forms except letters/digits
    return !((c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A));
  }
  if (c >= 0x1F000 && c <= 0x1FAFF) return true;                 // emoji and pictographs
  if (c == 0xFFFD || (c >= 0xE000 && c <= 0xF8FF)) return true;  // replacement, private use
  return false;
}

bool is_terminal_punct(char32_t c) {
  switch (c) {
    case '.':
    case '!':
    case '?':
    case ';':
    case ':':
    case '"':
    case '\'':
    case ')':
    case 0x3002:
    case 0xFF01:
    case 0xFF1F:
    case 0xFF1B:
    case 0xFF1A:
    case 0x2026:
    case 0xFF0E:
    case 0x201D:
    case 0x2019:
    case 0x300D:
    case 0x300F:
    case 0xFF09:
    case 0x3011:
    case 0x300B: return true;
    default: return false;
  }
}

bool is_mojibake(char32_t c) {
  if (c == 0xFFFD) return true;
  if (c >= 0x80 && c <= 0x9F) return true;  // C1 controls: bytes decoded as Latin-1
  // Accented Latin-1 letters: in Chinese text they are almost always UTF-8 read as cp1252/latin1.
  if (c >= 0xC0 && c <= 0xFF && c != 0xD7 && c != 0xF7) return true;
  if (c >= 0xE000 && c <= 0xF8FF) return true;  // private use: failed GBK conversions
  return false;
}

std::vector<std::pair<uint32_t, uint32_t>> tokenize_for_repetition(std::u32string_view cps) {
  std::vector<std::pair<uint32_t, uint32_t>> toks;
  uint32_t n = static_cast<uint32_t>(cps.size());
  uint32_t i = 0;
  auto is_word = [](char32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  while (i < n) {
    char32_t c = cps[i];
    if (is_word(c)) {
      uint32_t b = i;
      while (i < n && is_word(cps[i])) ++i;
      toks.emplace_back(b, i);
    } else if (is_space(c) || is_punct_or_symbol(c)) {
      ++i;
    } else {
      toks.emplace_back(i, i + 1);
      ++i;
    }
  }
  return toks;
}

}  // namespace dm::data
