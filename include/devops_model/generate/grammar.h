// GBNF-like grammars (llama.cpp's syntax) for constrained decoding.
//
//   root   ::= "{" ws pair ("," ws pair)* "}"     # a rule: name ::= alternatives
//   pair   ::= [a-z]+ ":" ws ( "true" | num )    # literals, classes, groups, alternation |
//   num    ::= "-"? [0-9]{1,16}                  # repetition * + ? {m} {m,} {m,n}
//   ws     ::= [ \t\n]{0,4}                       # comments run from # to the end of the line
//
// Literals and classes hold UTF-8 text with escapes \n \r \t \\ \" \' \[ \] \- \^ \/ \xHH \uHHHH
// \UHHHHHHHH; classes take ranges (a-z) and negation ([^"\\]); `.` is any character. Names are
// [A-Za-z0-9_-]+. A rule ends at a newline unless inside ( ... ) or right after `::=` or `|`.
// Differences from llama.cpp: a rule defined twice is an error (llama.cpp keeps the last), token
// references (<...>) are not supported, and left recursion (also through rules that can be empty)
// is rejected here, where llama.cpp's runtime would loop.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dm {

// One element of a rule body. A rule is its alternatives separated by kAlt and closed by kEnd. A
// character class is a kChar/kCharNot/kCharAny element whose value is a code point, followed by
// kCharRangeUpper (the upper bound of a range started by the previous element) and kCharAlt
// (another code point of the same class) elements.
enum class GrammarOp : uint8_t {
  kEnd,             // end of the rule
  kAlt,             // start of the next alternative
  kRuleRef,         // value = rule id
  kChar,            // a class matching value (and the kCharAlt/kCharRangeUpper that follow)
  kCharNot,         // a negated class: any code point except those listed
  kCharRangeUpper,  // value = inclusive upper bound of the range started by the previous element
  kCharAlt,         // value = one more code point (or range start) of the current class
  kCharAny,         // `.`: any code point
};

struct GrammarElement {
  GrammarOp op;
  uint32_t value;
};

// A parsed, checked grammar: every referenced rule defined, no left recursion, a root rule. Rules
// made by repetitions are named after their rule (`item_3`). Immutable; cheap to copy (element
// arrays of a few KB).
class Grammar {
 public:
  // Parses GBNF text. Errors are Error(kInvalidArgument, "grammar:LINE:COL: ...") for syntax,
  // "grammar: ..." naming the rule for undefined/left-recursive rules or a missing start rule.
  static Grammar parse(std::string_view text, std::string_view start_rule = "root");

  const std::vector<GrammarElement>& elements() const { return elements_; }
  // Index in elements() of the first element of rule `rule`.
  uint32_t rule_start(uint32_t rule) const { return rule_starts_[rule]; }
  uint32_t rule_count() const { return static_cast<uint32_t>(rule_starts_.size()); }
  const std::string& rule_name(uint32_t rule) const { return rule_names_[rule]; }
  uint32_t start_rule() const { return start_; }

  // Back to GBNF text (one line per rule, generated rules included): for logs and tests.
  std::string to_string() const;

  // Limits on what parse() accepts (bounded work for untrusted grammars from requests).
  static constexpr uint32_t kMaxRepetition = 4096;  // m and n of {m,n}
  static constexpr size_t kMaxElements = 1 << 20;   // after expanding repetitions

 private:
  friend class GrammarBuilder;
  std::vector<GrammarElement> elements_;
  std::vector<uint32_t> rule_starts_;
  std::vector<std::string> rule_names_;
  uint32_t start_ = 0;
};

}  // namespace dm
