// GBNF text -> GrammarBuilder rules. Recursive descent over the bytes; positions become LINE:COL (1-based,
// columns in bytes) only when an error is reported. Repetitions are expanded here into generated rules,
// as llama.cpp does, so the runtime knows only sequences, alternatives and rule references.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/generate/grammar.h"
#include "generate/grammar_builder.h"

namespace dm {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

class GbnfParser {
 public:
  GbnfParser(std::string_view src, GrammarBuilder& b) : src_(src), b_(b) {}

  void parse() {
    skip_space(true);
    while (!eof()) {
      parse_rule();
      skip_space(true);
    }
  }

 private:
  bool eof() const { return pos_ >= src_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }

  std::pair<int, int> line_col(size_t pos) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return {line, col};
  }

  template <typename... Args>
  [[noreturn]] void error_at(size_t pos, Args&&... args) const {
    const auto [line, col] = line_col(pos);
    fail(ErrorKind::kInvalidArgument, "grammar:", line, ":", col, ": ", std::forward<Args>(args)...);
  }

  // Spaces, tabs, CRs and # comments; newlines too when the construct may continue on the next line.
  void skip_space(bool newline_ok) {
    while (!eof()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || (newline_ok && c == '\n')) {
        ++pos_;
      } else if (c == '#') {
        while (!eof() && peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string_view parse_name() {
    const size_t start = pos_;
    while (!eof() && is_name_char(peek())) ++pos_;
    if (pos_ == start) error_at(start, "expected a rule name");
    return src_.substr(start, pos_ - start);
  }

  void parse_rule() {
    const size_t start = pos_;
    const std::string name(parse_name());
    skip_space(false);
    if (src_.substr(pos_, 3) != "::=") error_at(pos_, "expected '::=' after rule name '", name, "'");
    pos_ += 3;
    skip_space(true);
    const uint32_t id = b_.rule_id(name);
    std::vector<GrammarElement> body;
    parse_alternates(id, body, false);
    if (!eof() && peek() != '\n') error_at(pos_, "expected end of line after rule '", name, "'");
    const auto [line, col] = line_col(start);
    b_.define(id, std::move(body), line, col);
  }

  void parse_alternates(uint32_t rule, std::vector<GrammarElement>& out, bool nested) {
    parse_sequence(rule, out, nested);
    while (peek() == '|') {
      ++pos_;
      skip_space(true);
      out.push_back({GrammarOp::kAlt, 0});
      b_.charge(1);
      parse_sequence(rule, out, nested);
    }
  }

  void parse_sequence(uint32_t rule, std::vector<GrammarElement>& out, bool nested);
  void parse_literal(std::vector<GrammarElement>& out);
  void parse_class(std::vector<GrammarElement>& out);
  uint32_t parse_char();
  uint32_t parse_hex(int digits);
  uint32_t parse_count();
  void repeat(uint32_t rule, std::vector<GrammarElement>& out, size_t item_start, uint32_t min, uint32_t max,
              bool unbounded);

  std::string_view src_;
  GrammarBuilder& b_;
  size_t pos_ = 0;
};

void GbnfParser::parse_sequence(uint32_t rule, std::vector<GrammarElement>& out, bool nested) {
  size_t item_start = out.size();
  bool have_item = false;
  while (!eof()) {
    const char c = peek();
    const size_t here = pos_;
    if (c == '"' || c == '[' || c == '.' || c == '(' || is_name_char(c)) {
      item_start = out.size();
      have_item = true;
      if (c == '"') {
        parse_literal(out);
      } else if (c == '[') {
        parse_class(out);
      } else if (c == '.') {
        ++pos_;
        out.push_back({GrammarOp::kCharAny, 0});
        b_.charge(1);
      } else if (c == '(') {
        ++pos_;
        skip_space(true);
        const uint32_t group = b_.generated_rule(rule);
        std::vector<GrammarElement> body;
        parse_alternates(rule, body, true);
        if (peek() != ')')
          error_at(pos_, "expected ')' to close the group opened at ", line_col(here).first, ":",
                   line_col(here).second);
        ++pos_;
        const auto [line, col] = line_col(here);
        b_.define(group, std::move(body), line, col);
        out.push_back({GrammarOp::kRuleRef, group});
        b_.charge(1);
      } else {
        const auto [line, col] = line_col(here);
        out.push_back({GrammarOp::kRuleRef, b_.rule_id(parse_name(), line, col)});
        b_.charge(1);
      }
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
      if (!have_item) error_at(pos_, "'", c, "' must follow an item to repeat");
      ++pos_;
      if (c == '*') {
        repeat(rule, out, item_start, 0, 0, true);
      } else if (c == '+') {
        repeat(rule, out, item_start, 1, 0, true);
      } else if (c == '?') {
        repeat(rule, out, item_start, 0, 1, false);
      } else {
        skip_space(true);
        const uint32_t min = parse_count();
        uint32_t max = min;
        bool unbounded = false;
        skip_space(true);
        if (peek() == ',') {
          ++pos_;
          skip_space(true);
          if (peek() == '}') {
            unbounded = true;
          } else {
            max = parse_count();
            if (max < min) error_at(pos_, "repetition {", min, ",", max, "}: max below min");
          }
          skip_space(true);
        }
        if (peek() != '}') error_at(pos_, "expected '}' to close the repetition");
        ++pos_;
        repeat(rule, out, item_start, min, max, unbounded);
      }
      have_item = false;  // "x**" is an error, as in llama.cpp
    } else {
      break;
    }
    skip_space(nested);
  }
}

uint32_t GbnfParser::parse_count() {
  const size_t start = pos_;
  uint64_t v = 0;
  while (peek() >= '0' && peek() <= '9') {
    v = v * 10 + static_cast<uint64_t>(peek() - '0');
    if (v > Grammar::kMaxRepetition) error_at(start, "repetition count over ", Grammar::kMaxRepetition);
    ++pos_;
  }
  if (pos_ == start) error_at(start, "expected a repetition count");
  return static_cast<uint32_t>(v);
}

// item{min,max} (max unbounded when `unbounded`) as llama.cpp expands it: min copies, then either a
// right-recursive `R ::= item R |` or (max - min) nested optionals `R_k ::= item R_k+1 |`. A multi-element
// item is moved into its own rule first, so copies are one reference each.
void GbnfParser::repeat(uint32_t rule, std::vector<GrammarElement>& out, size_t item_start, uint32_t min, uint32_t max,
                        bool unbounded) {
  std::vector<GrammarElement> item(out.begin() + static_cast<std::ptrdiff_t>(item_start), out.end());
  out.resize(item_start);
  const auto [line, col] = line_col(pos_);
  if (item.size() > 1) {
    const uint32_t wrap = b_.generated_rule(rule);
    b_.define(wrap, std::move(item), line, col);
    item = {{GrammarOp::kRuleRef, wrap}};
  }
  for (uint32_t i = 0; i < min; ++i) {
    out.insert(out.end(), item.begin(), item.end());
    b_.charge(item.size());
  }
  if (unbounded) {
    const uint32_t star = b_.generated_rule(rule);
    std::vector<GrammarElement> body = item;
    body.push_back({GrammarOp::kRuleRef, star});
    body.push_back({GrammarOp::kAlt, 0});
    b_.charge(body.size());
    b_.define(star, std::move(body), line, col);
    out.push_back({GrammarOp::kRuleRef, star});
  } else if (max > min) {
    uint32_t next = 0;
    bool have_next = false;
    for (uint32_t k = max - min; k > 0; --k) {  // innermost optional first
      const uint32_t opt = b_.generated_rule(rule);
      std::vector<GrammarElement> body = item;
      if (have_next) body.push_back({GrammarOp::kRuleRef, next});
      body.push_back({GrammarOp::kAlt, 0});
      b_.charge(body.size());
      b_.define(opt, std::move(body), line, col);
      next = opt;
      have_next = true;
    }
    out.push_back({GrammarOp::kRuleRef, next});
  }
  b_.charge(1);
}

uint32_t GbnfParser::parse_hex(int digits) {
  uint32_t v = 0;
  for (int i = 0; i < digits; ++i) {
    const char c = peek();
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      error_at(pos_, "expected ", digits, " hex digits");
    }
    v = v * 16 + d;
    ++pos_;
  }
  return v;
}

// One code point of a literal or class: an escape or one UTF-8 encoded character.
uint32_t GbnfParser::parse_char() {
  const size_t start = pos_;
  if (eof()) error_at(pos_, "unexpected end of grammar");
  const auto c = static_cast<unsigned char>(peek());
  if (c == '\\') {
    ++pos_;
    const char e = peek();
    ++pos_;
    switch (e) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '\\':
      case '"':
      case '\'':
      case '[':
      case ']':
      case '-':
      case '^':
      case '/': return static_cast<uint32_t>(e);
      case 'x': return parse_hex(2);
      case 'u': return parse_hex(4);
      case 'U': {
        const uint32_t v = parse_hex(8);
        if (v > 0x10FFFF) error_at(start, "code point \\U", v, " out of range");
        return v;
      }
      default: error_at(start, "unknown escape '\\", e, "'");
    }
  }
  int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || pos_ + static_cast<size_t>(len) > src_.size()) error_at(start, "invalid UTF-8");
  uint32_t cp = len == 1 ? c : c & (0x7F >> len);
  for (int i = 1; i < len; ++i) {
    const auto cc = static_cast<unsigned char>(src_[pos_ + static_cast<size_t>(i)]);
    if ((cc & 0xC0) != 0x80) error_at(start, "invalid UTF-8");
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Strict: no overlong forms, surrogates or values past U+10FFFF (the rendering could not spell them).
  const uint32_t min_cp = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) error_at(start, "invalid UTF-8");
  pos_ += static_cast<size_t>(len);
  return cp;
}

void GbnfParser::parse_literal(std::vector<GrammarElement>& out) {
  const size_t start = pos_;
  ++pos_;  // opening quote
  while (peek() != '"') {
    if (eof()) error_at(start, "unterminated literal");
    out.push_back({GrammarOp::kChar, parse_char()});
    b_.charge(1);
  }
  ++pos_;
}

void GbnfParser::parse_class(std::vector<GrammarElement>& out) {
  const size_t start = pos_;
  ++pos_;  // [
  GrammarOp first = GrammarOp::kChar;
  if (peek() == '^') {
    first = GrammarOp::kCharNot;
    ++pos_;
  }
  bool empty = true;
  while (peek() != ']') {
    if (eof()) error_at(start, "unterminated character class");
    const size_t at = pos_;
    const uint32_t lo = parse_char();
    out.push_back({empty ? first : GrammarOp::kCharAlt, lo});
    empty = false;
    if (peek() == '-' && peek(1) != ']' && peek(1) != '\0') {
      ++pos_;
      const uint32_t hi = parse_char();
      if (hi < lo) error_at(at, "character range with its end below its start");
      out.push_back({GrammarOp::kCharRangeUpper, hi});
    }
    b_.charge(2);
  }
  if (empty) error_at(start, "empty character class");
  ++pos_;
}

}  // namespace

Grammar Grammar::parse(std::string_view text, std::string_view start_rule) {
  GrammarBuilder b;
  GbnfParser(text, b).parse();
  return b.build(start_rule);
}

}  // namespace dm
