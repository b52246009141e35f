// GrammarMatcher: the automaton's current state plus the per-step vocabulary walk.
#include "devops_model/generate/grammar_matcher.h"

#include <algorithm>
#include <limits>

#include "devops_model/core/error.h"
#include "generate/grammar_automaton.h"

namespace dm {

GrammarMatcher::GrammarMatcher(const Grammar& grammar)
    : automaton_(std::make_unique<GrammarAutomaton>(grammar)), state_(automaton_->initial()) {}
GrammarMatcher::~GrammarMatcher() = default;
GrammarMatcher::GrammarMatcher(GrammarMatcher&&) noexcept = default;
GrammarMatcher& GrammarMatcher::operator=(GrammarMatcher&&) noexcept = default;

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (finished_) return bytes.empty();
  if (automaton_->state_count() > kMaxCachedStates) state_ = automaton_->compact(state_);
  int32_t s = state_;
  for (char c : bytes) {
    s = automaton_->step(s, static_cast<uint8_t>(c));
    if (s == GrammarAutomaton::kDead) return false;
  }
  state_ = s;
  return true;
}

bool GrammarMatcher::can_accept(std::string_view bytes) {
  if (finished_) return bytes.empty();
  int32_t s = state_;
  for (char c : bytes) {
    s = automaton_->step(s, static_cast<uint8_t>(c));
    if (s == GrammarAutomaton::kDead) return false;
  }
  return true;
}

bool GrammarMatcher::accept_token(int32_t id, const TokenTable& tokens) {
  if (id < 0 || id >= tokens.size() || finished_) return false;
  if (tokens.is_eos(id)) {
    if (!is_complete()) return false;
    finished_ = true;
    return true;
  }
  const std::string& bytes = tokens.bytes(id);
  return !bytes.empty() && accept_bytes(bytes);
}

bool GrammarMatcher::is_complete() const { return automaton_->accepting(state_); }

bool GrammarMatcher::must_end() {
  if (!is_complete()) return false;
  for (int b = 0; b < 256; ++b) {
    if (automaton_->step(state_, static_cast<uint8_t>(b)) != GrammarAutomaton::kDead) return false;
  }
  return true;
}

void GrammarMatcher::reset() {
  state_ = automaton_->initial();
  finished_ = false;
}

// One pass over the pre-order trie: walk_[d] is the state after the first d bytes of the current node's
// path; a dead state skips the node's whole subtree.
size_t GrammarMatcher::fill_allowed(const TokenTable& tokens, std::vector<uint8_t>& allowed) {
  allowed.assign(static_cast<size_t>(tokens.size()), 0);
  if (finished_) return 0;
  if (automaton_->state_count() > kMaxCachedStates) state_ = automaton_->compact(state_);
  const auto& nodes = tokens.nodes();
  const auto& ids = tokens.token_ids();
  walk_.resize(tokens.max_depth() + 1);
  walk_[0] = state_;
  size_t count = 0;
  const size_t n = nodes.size() - 1;  // the last node is a sentinel
  for (size_t i = 0; i < n;) {
    const TokenTable::Node& node = nodes[i];
    const int32_t s = automaton_->step(walk_[node.depth - 1u], node.byte);
    if (s == GrammarAutomaton::kDead) {
      i = node.subtree_end;
      continue;
    }
    walk_[node.depth] = s;
    for (uint32_t t = node.token_begin; t < nodes[i + 1].token_begin; ++t) allowed[static_cast<size_t>(ids[t])] = 1;
    count += nodes[i + 1].token_begin - node.token_begin;
    ++i;
  }
  if (is_complete()) {
    for (int32_t id : tokens.eos_ids()) {
      count += allowed[static_cast<size_t>(id)] == 0;
      allowed[static_cast<size_t>(id)] = 1;
    }
  }
  return count;
}

size_t GrammarMatcher::mask_logits(std::span<float> logits, const TokenTable& tokens) {
  const size_t count = fill_allowed(tokens, allowed_);
  const size_t common = std::min(logits.size(), allowed_.size());
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < common; ++i) {
    if (!allowed_[i]) logits[i] = kNegInf;
  }
  for (size_t i = common; i < logits.size(); ++i) logits[i] = kNegInf;
  return count;
}

size_t GrammarMatcher::cached_states() const { return automaton_->state_count(); }

}  // namespace dm
