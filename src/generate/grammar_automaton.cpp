// The lazily determinised pushdown automaton (see grammar_automaton.h). Code points are decoded from the
// bytes here, strictly: overlong forms, surrogates and values past U+10FFFF are rejected as soon as
// their first bytes rule out every valid completion, so constrained output is always valid UTF-8.
#include "generate/grammar_automaton.h"

#include <algorithm>
#include <utility>

#include "devops_model/core/error.h"
#include "generate/grammar_builder.h"

namespace dm {
namespace {

bool is_class(GrammarOp op) { return op == GrammarOp::kChar || op == GrammarOp::kCharNot || op == GrammarOp::kCharAny; }
bool ends_alternative(GrammarOp op) { return op == GrammarOp::kEnd || op == GrammarOp::kAlt; }

// Smallest code point of an encoding of `len` bytes (anything below is overlong).
uint32_t min_code_point(uint8_t len) { return len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000; }

// The valid code points a partial UTF-8 sequence can still become, as [lo, hi]; false if none.
bool completion_range(uint32_t value, uint8_t left, uint8_t len, uint32_t& lo, uint32_t& hi) {
  const uint32_t shift = 6u * left;
  lo = std::max(value << shift, min_code_point(len));
  hi = std::min((value << shift) | ((1u << shift) - 1), 0x10FFFFu);
  if (lo >= 0xD800 && lo <= 0xDFFF) lo = 0xE000;  // surrogates are not characters
  if (hi >= 0xD800 && hi <= 0xDFFF) hi = 0xD7FF;
  return lo <= hi;
}

}  // namespace

GrammarAutomaton::GrammarAutomaton(Grammar grammar) : grammar_(std::move(grammar)), el_(grammar_.elements()) {
  alt_starts_.resize(grammar_.rule_count());
  for (uint32_t r = 0; r < grammar_.rule_count(); ++r) {
    uint32_t i = grammar_.rule_start(r);
    alt_starts_[r].push_back(i);
    for (; el_[i].op != GrammarOp::kEnd; ++i) {
      if (el_[i].op == GrammarOp::kAlt) alt_starts_[r].push_back(i + 1);
    }
  }
  nodes_.push_back({0, 0});  // the empty stack
  State st;
  for (uint32_t a : alt_starts_[grammar_.start_rule()]) {
    expand(ends_alternative(el_[a].op) ? 0 : node(a, 0), st.stacks);
  }
  std::sort(st.stacks.begin(), st.stacks.end());
  st.stacks.erase(std::unique(st.stacks.begin(), st.stacks.end()), st.stacks.end());
  initial_ = intern(std::move(st));
}

uint32_t GrammarAutomaton::node(uint32_t pos, uint32_t parent) {
  const uint64_t key = (static_cast<uint64_t>(pos) << 32) | parent;
  const auto [it, inserted] = node_ids_.emplace(key, static_cast<uint32_t>(nodes_.size()));
  if (inserted) nodes_.push_back({pos, parent});
  return it->second;
}

GrammarAutomaton::StateId GrammarAutomaton::intern(State st) {
  std::string key(reinterpret_cast<const char*>(st.stacks.data()), st.stacks.size() * sizeof(uint32_t));
  key.append(reinterpret_cast<const char*>(&st.utf8_value), sizeof st.utf8_value);
  key += static_cast<char>(st.utf8_left);
  key += static_cast<char>(st.utf8_len);
  key += static_cast<char>(st.utf8_any);
  const auto [it, inserted] = state_ids_.emplace(std::move(key), static_cast<StateId>(states_.size()));
  if (inserted) {
    states_.push_back(std::move(st));
    trans_.resize(states_.size() * 256, kUnknown);
  }
  return it->second;
}

bool GrammarAutomaton::accepting(StateId s) const {
  const State& st = states_[static_cast<size_t>(s)];
  return st.utf8_left == 0 && !st.stacks.empty() && st.stacks.front() == 0;
}

void GrammarAutomaton::expand(uint32_t stack, std::vector<uint32_t>& out) {
  scratch_.assign(1, stack);
  if (++epoch_ == 0) {  // wrapped: old marks could alias the new epoch
    std::fill(seen_.begin(), seen_.end(), 0);
    epoch_ = 1;
  }
  while (!scratch_.empty()) {
    const uint32_t s = scratch_.back();
    scratch_.pop_back();
    if (s >= seen_.size()) seen_.resize(nodes_.size() * 2, 0);
    if (seen_[s] == epoch_) continue;
    seen_[s] = epoch_;
    const uint32_t pos = nodes_[s].pos;
    if (s == 0 || is_class(el_[pos].op)) {
      out.push_back(s);
      continue;
    }
    DM_CHECK(el_[pos].op == GrammarOp::kRuleRef);
    // The continuation after the reference; a reference that ends its alternative pushes nothing
    // (a tail call), so right recursion (x*) does not grow the stack.
    const uint32_t parent = nodes_[s].parent;
    const uint32_t rest = ends_alternative(el_[pos + 1].op) ? parent : node(pos + 1, parent);
    for (uint32_t a : alt_starts_[el_[pos].value])
      scratch_.push_back(ends_alternative(el_[a].op) ? rest : node(a, rest));
  }
}

std::vector<uint32_t> GrammarAutomaton::advance(const std::vector<uint32_t>& stacks, uint32_t cp) {
  std::vector<uint32_t> out;
  auto dedup = [&out] {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  };
  for (uint32_t s : stacks) {
    if (s == 0 || (cp != kAnyCodePoint && !class_matches(nodes_[s].pos, cp))) continue;
    const auto next = static_cast<uint32_t>(class_end(el_, nodes_[s].pos));
    const uint32_t parent = nodes_[s].parent;
    expand(ends_alternative(el_[next].op) ? parent : node(next, parent), out);
    if (out.size() > 4 * kMaxStacks) dedup();  // bounds the work list before the check below
    if (out.size() > kMaxStacks) {
      dedup();
      if (out.size() > kMaxStacks) throw_too_ambiguous();
    }
  }
  dedup();
  return out;
}

// An ambiguous grammar (alternatives that match the same text, nested under recursion) can multiply the
// parse stacks with every byte; past the bound, matching stops instead of growing without limit.
void GrammarAutomaton::throw_too_ambiguous() const {
  fail(ErrorKind::kInvalidArgument, "grammar: too ambiguous: the text so far has over ", kMaxStacks,
       " possible parse stacks at once (alternatives that match the same text, nested by recursion); make the "
       "alternatives differ sooner or bound the repetition");
}

GrammarAutomaton::StateId GrammarAutomaton::compute_step(StateId s, uint8_t byte) {
  const State cur = states_[static_cast<size_t>(s)];  // a copy: interning may move states_
  State next;
  if (cur.utf8_left == 0 && byte < 0x80) {
    next.stacks = advance(cur.stacks, byte);
  } else if (cur.utf8_left == 0) {  // a lead byte; C0, C1 and F5..FF never start a valid character
    next.utf8_len = byte >= 0xC2 && byte <= 0xDF ? 2 : (byte & 0xF0) == 0xE0 ? 3 : byte >= 0xF0 && byte <= 0xF4 ? 4 : 0;
    if (next.utf8_len != 0) {
      next.utf8_value = byte & (0x7Fu >> next.utf8_len);
      next.utf8_left = static_cast<uint8_t>(next.utf8_len - 1);
      partial(cur.stacks, next);
    }
  } else if ((byte & 0xC0) == 0x80) {
    next.utf8_len = cur.utf8_len;
    next.utf8_left = static_cast<uint8_t>(cur.utf8_left - 1);
    if (cur.utf8_any) {
      // Every completion is valid and accepted by every stack: the value no longer matters.
      if (next.utf8_left == 0) {
        next.utf8_len = 0;
        next.stacks = advance(cur.stacks, kAnyCodePoint);
      } else {
        next.utf8_any = 1;
        next.stacks = cur.stacks;
      }
    } else {
      next.utf8_value = (cur.utf8_value << 6) | (byte & 0x3Fu);
      if (next.utf8_left == 0) {
        uint32_t lo = 0, hi = 0;
        const bool valid = completion_range(next.utf8_value, 0, next.utf8_len, lo, hi);
        next.utf8_len = 0;
        if (valid) next.stacks = advance(cur.stacks, next.utf8_value);
        next.utf8_value = 0;
      } else {
        partial(cur.stacks, next);
      }
    }
  }
  const StateId result = next.stacks.empty() ? kDead : intern(std::move(next));
  trans_[static_cast<size_t>(s) * 256 + byte] = result;
  return result;
}

// A pending character in `next` (value, left, len set): keeps the stacks whose class holds one of its
// valid completions. When every completion is valid and every kept class holds all of them, the state
// forgets the value (utf8_any), so e.g. all 2-byte prefixes of CJK characters inside a JSON string
// are one state instead of a thousand.
void GrammarAutomaton::partial(const std::vector<uint32_t>& stacks, State& next) const {
  uint32_t lo = 0, hi = 0;
  if (!completion_range(next.utf8_value, next.utf8_left, next.utf8_len, lo, hi)) return;
  const uint32_t shift = 6u * next.utf8_left;
  bool all_full = lo == next.utf8_value << shift && hi == ((next.utf8_value << shift) | ((1u << shift) - 1));
  for (uint32_t st : stacks) {
    if (st == 0) continue;
    const Coverage c = coverage(nodes_[st].pos, lo, hi);
    if (c == Coverage::kNone) continue;
    next.stacks.push_back(st);
    all_full = all_full && c == Coverage::kFull;
  }
  if (all_full && !next.stacks.empty()) {
    next.utf8_any = 1;
    next.utf8_value = 0;
  }
}

bool GrammarAutomaton::class_matches(uint32_t pos, uint32_t cp) const {
  const GrammarElement* e = &el_[pos];
  if (e->op == GrammarOp::kCharAny) return true;
  const bool negated = e->op == GrammarOp::kCharNot;
  bool found = false;
  do {
    if (e[1].op == GrammarOp::kCharRangeUpper) {
      found = found || (e->value <= cp && cp <= e[1].value);
      e += 2;
    } else {
      found = found || e->value == cp;
      e += 1;
    }
  } while (e->op == GrammarOp::kCharAlt);
  return found != negated;
}

// How much of [lo, hi] the class at `pos` holds, from its ranges sorted and merged.
GrammarAutomaton::Coverage GrammarAutomaton::coverage(uint32_t pos, uint32_t lo, uint32_t hi) const {
  const GrammarOp op = el_[pos].op;
  if (op == GrammarOp::kCharAny) return Coverage::kFull;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  for (size_t i = pos; i < class_end(el_, pos);) {
    const bool range = el_[i + 1].op == GrammarOp::kCharRangeUpper;
    ranges.emplace_back(el_[i].value, range ? el_[i + 1].value : el_[i].value);
    i += range ? 2 : 1;
  }
  std::sort(ranges.begin(), ranges.end());
  // Listed code points in [lo, hi]: none, all (one merged run covers it) or some.
  Coverage listed = Coverage::kNone;
  uint32_t run_lo = 0, run_hi = 0;
  bool in_run = false;
  for (const auto& [a, b] : ranges) {
    if (in_run && a <= run_hi + 1) {
      run_hi = std::max(run_hi, b);
    } else {
      run_lo = a;
      run_hi = b;
      in_run = true;
    }
    if (run_lo <= lo && run_hi >= hi) {
      listed = Coverage::kFull;
      break;
    }
    if (a <= hi && b >= lo) listed = Coverage::kPartial;
  }
  if (op == GrammarOp::kChar) return listed;
  return listed == Coverage::kFull ? Coverage::kNone : listed == Coverage::kNone ? Coverage::kFull : Coverage::kPartial;
}

GrammarAutomaton::StateId GrammarAutomaton::compact(StateId keep) {
  // The kept states' stacks as position chains (bottom first), re-interned into fresh tables; the start
  // state survives too, for reset().
  struct Saved {
    State st;
    std::vector<std::vector<uint32_t>> chains;
  };
  std::vector<Saved> saved;
  for (StateId id : {initial_, keep}) {
    Saved sv{states_[static_cast<size_t>(id)], {}};
    for (uint32_t s : sv.st.stacks) {
      std::vector<uint32_t> chain;
      for (uint32_t n = s; n != 0; n = nodes_[n].parent) chain.push_back(nodes_[n].pos);
      std::reverse(chain.begin(), chain.end());
      sv.chains.push_back(std::move(chain));
    }
    saved.push_back(std::move(sv));
  }
  nodes_.assign(1, {0, 0});
  node_ids_.clear();
  seen_.clear();
  states_.clear();
  state_ids_.clear();
  trans_.clear();
  std::vector<StateId> ids;
  for (Saved& sv : saved) {
    sv.st.stacks.clear();
    for (const auto& chain : sv.chains) {
      uint32_t n = 0;
      for (uint32_t pos : chain) n = node(pos, n);
      sv.st.stacks.push_back(n);
    }
    std::sort(sv.st.stacks.begin(), sv.st.stacks.end());
    ids.push_back(intern(std::move(sv.st)));
  }
  initial_ = ids[0];
  return ids[1];
}

}  // namespace dm
