// Internal: rules under construction (the GBNF parser writes them, Grammar::parse checks and freezes them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "devops_model/generate/grammar.h"

namespace dm {

class GrammarBuilder {
 public:
  // Id of the rule named `name`, created (undefined) on first use; `ref_line/col` remember where a rule
  // was first referenced, for the "undefined rule" error.
  uint32_t rule_id(std::string_view name, int ref_line = 0, int ref_col = 0);
  // A fresh rule for a group or repetition of rule `base` ("base_N"); defined when its body is set.
  uint32_t generated_rule(uint32_t base);
  // Sets the body (alternatives separated by kAlt, without the closing kEnd) of a rule. A user rule
  // defined twice is an error; a generated rule that holds the name is renamed out of the way.
  void define(uint32_t rule, std::vector<GrammarElement> body, int line, int col);
  // Counts elements against Grammar::kMaxElements (repetitions can multiply them).
  void charge(size_t elements);

  // Checks (all rules defined, start rule present, no left recursion, start rule can end) and lays the
  // rules out as one element array.
  Grammar build(std::string_view start_rule);

 private:
  struct Rule {
    std::string name;
    std::vector<GrammarElement> body;
    bool defined = false;
    bool generated = false;
    int line = 0, col = 0;  // definition, or first reference while undefined
  };
  uint32_t add_rule(std::string name, bool generated);
  std::string fresh_name(uint32_t base);
  void check_left_recursion(const std::vector<bool>& nullable) const;

  std::vector<Rule> rules_;
  std::unordered_map<std::string, uint32_t> ids_;
  std::unordered_map<uint32_t, uint32_t> generated_count_;  // base rule -> generated rules so far
  size_t elements_ = 0;
};

// Per-alternative views of a rule body: [begin, end) element ranges between kAlt separators.
std::vector<std::pair<size_t, size_t>> split_alternatives(const std::vector<GrammarElement>& body);

// Index just past the character class starting at `i` (its kCharAlt / kCharRangeUpper elements).
inline size_t class_end(const std::vector<GrammarElement>& el, size_t i) {
  ++i;
  while (i < el.size() && (el[i].op == GrammarOp::kCharAlt || el[i].op == GrammarOp::kCharRangeUpper)) ++i;
  return i;
}

}  // namespace dm
