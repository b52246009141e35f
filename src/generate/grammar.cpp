// GrammarBuilder: rule bookkeeping and the checks that make the runtime safe (every rule defined, no left
// recursion, a start rule that can end), then the frozen Grammar and its GBNF rendering.
#include "devops_model/generate/grammar.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "devops_model/core/error.h"
#include "generate/grammar_builder.h"

namespace dm {

std::vector<std::pair<size_t, size_t>> split_alternatives(const std::vector<GrammarElement>& body) {
  std::vector<std::pair<size_t, size_t>> alts;
  size_t begin = 0;
  for (size_t i = 0; i <= body.size(); ++i) {
    if (i == body.size() || body[i].op == GrammarOp::kAlt) {
      alts.emplace_back(begin, i);
      begin = i + 1;
    }
  }
  return alts;
}

uint32_t GrammarBuilder::add_rule(std::string name, bool generated) {
  const auto id = static_cast<uint32_t>(rules_.size());
  ids_[name] = id;
  rules_.push_back({std::move(name), {}, false, generated, 0, 0});
  return id;
}

std::string GrammarBuilder::fresh_name(uint32_t base) {
  uint32_t& n = generated_count_[base];
  std::string name;
  do {
    name = str_cat(rules_[base].name, "_", ++n);
  } while (ids_.count(name));
  return name;
}

uint32_t GrammarBuilder::rule_id(std::string_view name, int ref_line, int ref_col) {
  const auto it = ids_.find(std::string(name));
  if (it != ids_.end()) {
    if (!rules_[it->second].generated) return it->second;
    // The user's rule is named like a generated one ("item_1"): the generated rule, referenced only by
    // id, moves to another name.
    Rule& g = rules_[it->second];
    std::string other = g.name + "_";
    while (ids_.count(other)) other += "_";
    ids_[other] = it->second;
    ids_.erase(it);
    g.name = other;
  }
  const uint32_t id = add_rule(std::string(name), false);
  rules_[id].line = ref_line;
  rules_[id].col = ref_col;
  return id;
}

uint32_t GrammarBuilder::generated_rule(uint32_t base) { return add_rule(fresh_name(base), true); }

void GrammarBuilder::define(uint32_t rule, std::vector<GrammarElement> body, int line, int col) {
  Rule& r = rules_[rule];
  if (r.defined) {
    fail(ErrorKind::kInvalidArgument, "grammar:", line, ":", col, ": rule '", r.name, "' already defined at ", r.line,
         ":", r.col);
  }
  r.body = std::move(body);
  r.defined = true;
  r.line = line;
  r.col = col;
}

void GrammarBuilder::charge(size_t elements) {
  elements_ += elements;
  if (elements_ > Grammar::kMaxElements) {
    fail(ErrorKind::kInvalidArgument, "grammar: too large (over ", Grammar::kMaxElements,
         " elements after expanding repetitions)");
  }
}

namespace {

// Rules that can match the empty string (fixpoint over "some alternative is all nullable references").
std::vector<bool> nullable_rules(const std::vector<std::vector<GrammarElement>>& bodies) {
  std::vector<bool> nullable(bodies.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < bodies.size(); ++r) {
      if (nullable[r]) continue;
      for (const auto& [b, e] : split_alternatives(bodies[r])) {
        bool all = true;
        for (size_t i = b; i < e && all; ++i) {
          all = bodies[r][i].op == GrammarOp::kRuleRef && nullable[bodies[r][i].value];
        }
        if (all) {
          nullable[r] = changed = true;
          break;
        }
      }
    }
  }
  return nullable;
}

// Rules that match at least one finite string.
std::vector<bool> productive_rules(const std::vector<std::vector<GrammarElement>>& bodies) {
  std::vector<bool> productive(bodies.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < bodies.size(); ++r) {
      if (productive[r]) continue;
      for (const auto& [b, e] : split_alternatives(bodies[r])) {
        bool all = true;
        for (size_t i = b; i < e && all; ++i) {
          all = bodies[r][i].op != GrammarOp::kRuleRef || productive[bodies[r][i].value];
        }
        if (all) {
          productive[r] = changed = true;
          break;
        }
      }
    }
  }
  return productive;
}

}  // namespace

// A rule that reaches itself before consuming a character would make the runtime's expansion loop
// forever. Edges: rule -> each rule referenced at the left edge of an alternative (past nullable ones).
void GrammarBuilder::check_left_recursion(const std::vector<bool>& nullable) const {
  const size_t n = rules_.size();
  std::vector<std::vector<uint32_t>> edges(n);
  for (size_t r = 0; r < n; ++r) {
    const auto& body = rules_[r].body;
    for (const auto& [b, e] : split_alternatives(body)) {
      for (size_t i = b; i < e && body[i].op == GrammarOp::kRuleRef; ++i) {
        edges[r].push_back(body[i].value);
        if (!nullable[body[i].value]) break;
      }
    }
  }
  // Iterative DFS (grammars from requests may nest deeply): 0 = new, 1 = on the path, 2 = done.
  std::vector<uint8_t> state(n, 0);
  for (size_t root = 0; root < n; ++root) {
    if (state[root]) continue;
    std::vector<std::pair<uint32_t, size_t>> path{{static_cast<uint32_t>(root), 0}};
    state[root] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == edges[r].size()) {
        state[r] = 2;
        path.pop_back();
        continue;
      }
      const uint32_t to = edges[r][next++];
      if (state[to] == 1) {
        fail(ErrorKind::kInvalidArgument, "grammar:", rules_[to].line, ":", rules_[to].col, ": rule '", rules_[to].name,
             "' is left-recursive");
      }
      if (state[to] == 0) {
        state[to] = 1;
        path.emplace_back(to, 0);
      }
    }
  }
}

Grammar GrammarBuilder::build(std::string_view start_rule) {
  for (const Rule& r : rules_) {
    if (!r.defined)
      fail(ErrorKind::kInvalidArgument, "grammar:", r.line, ":", r.col, ": undefined rule '", r.name, "'");
  }
  const auto start = ids_.find(std::string(start_rule));
  if (start == ids_.end()) fail(ErrorKind::kInvalidArgument, "grammar: no '", start_rule, "' rule");
  std::vector<std::vector<GrammarElement>> bodies;
  bodies.reserve(rules_.size());
  for (const Rule& r : rules_) bodies.push_back(r.body);
  check_left_recursion(nullable_rules(bodies));
  if (!productive_rules(bodies)[start->second]) {
    fail(ErrorKind::kInvalidArgument, "grammar: rule '", start_rule, "' matches no finite text");
  }
  Grammar g;
  g.start_ = start->second;
  for (const Rule& r : rules_) {
    g.rule_starts_.push_back(static_cast<uint32_t>(g.elements_.size()));
    g.rule_names_.push_back(r.name);
    g.elements_.insert(g.elements_.end(), r.body.begin(), r.body.end());
    g.elements_.push_back({GrammarOp::kEnd, 0});
  }
  return g;
}

namespace {

void append_escaped(std::string& out, uint32_t cp, bool in_class) {
  if (cp == '"' || cp == '\\' || (in_class && (cp == ']' || cp == '-' || cp == '^' || cp == '['))) {
    out += '\\';
    out += static_cast<char>(cp);
  } else if (cp == '\n') {
    out += "\\n";
  } else if (cp == '\r') {
    out += "\\r";
  } else if (cp == '\t') {
    out += "\\t";
  } else if (cp < 0x20 || cp == 0x7F) {
    out += str_cat("\\x", "0123456789abcdef"[cp >> 4], "0123456789abcdef"[cp & 15]);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    char buf[16];
    snprintf(buf, sizeof buf, "\\U%08X", cp);
    out += buf;
  }
}

}  // namespace

std::string Grammar::to_string() const {
  std::string out;
  for (uint32_t r = 0; r < rule_count(); ++r) {
    out += rule_names_[r] + " ::=";
    bool in_literal = false;
    bool empty_alt = true;  // written as "" : a line ending in `|` would continue on the next line
    for (size_t i = rule_starts_[r];;) {
      const GrammarElement& e = elements_[i];
      if (e.op == GrammarOp::kEnd || e.op == GrammarOp::kAlt) {
        if (in_literal) out += '"';
        if (empty_alt) out += " \"\"";
        in_literal = false;
        empty_alt = true;
        if (e.op == GrammarOp::kEnd) break;
        out += " |";
        ++i;
        continue;
      }
      empty_alt = false;
      const size_t end = e.op == GrammarOp::kChar || e.op == GrammarOp::kCharNot ? class_end(elements_, i) : i + 1;
      const bool single = e.op == GrammarOp::kChar && end == i + 1;
      if (in_literal && !single) {
        out += '"';
        in_literal = false;
      }
      if (single) {
        if (!in_literal) out += " \"";
        in_literal = true;
        append_escaped(out, e.value, false);
      } else if (e.op == GrammarOp::kRuleRef) {
        out += " " + rule_names_[e.value];
      } else if (e.op == GrammarOp::kCharAny) {
        out += " .";
      } else {
        out += e.op == GrammarOp::kCharNot ? " [^" : " [";
        for (size_t j = i; j < end; ++j) {
          if (elements_[j].op == GrammarOp::kCharRangeUpper) out += '-';
          append_escaped(out, elements_[j].value, true);
        }
        out += ']';
      }
      i = end;
    }
    out += '\n';
  }
  return out;
}

}  // namespace dm
