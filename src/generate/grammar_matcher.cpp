// GrammarMatcher: the automaton's current state, the per-step vocabulary walk, and a few recent masks.
// The allowed set is a function of the automaton state alone, and inside a JSON string the state repeats
// from token to token, so a mask once walked is kept (as a bitset) for the next steps that need it.
#include "devops_model/generate/grammar_matcher.h"

#include <algorithm>
#include <limits>

#include "devops_model/core/error.h"
#include "generate/grammar_automaton.h"

namespace dm {

struct GrammarMatcher::CachedMask {
  int32_t state = -1;
  uint64_t last_used = 0;
  size_t count = 0;
  std::vector<uint64_t> bits;  // bit id set = token id allowed
};

GrammarMatcher::GrammarMatcher(const Grammar& grammar)
    : automaton_(std::make_unique<GrammarAutomaton>(grammar)), state_(automaton_->initial()) {}
GrammarMatcher::~GrammarMatcher() = default;
GrammarMatcher::GrammarMatcher(GrammarMatcher&&) noexcept = default;
GrammarMatcher& GrammarMatcher::operator=(GrammarMatcher&&) noexcept = default;

void GrammarMatcher::maybe_compact() {
  if (automaton_->state_count() <= kMaxCachedStates) return;
  state_ = automaton_->compact(state_);
  masks_.clear();  // state ids changed
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (finished_) return bytes.empty();
  maybe_compact();
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
void GrammarMatcher::walk(const TokenTable& tokens, CachedMask& out) {
  out.state = -1;  // not a valid mask until the walk ends (a step may throw on an over-ambiguous grammar)
  out.bits.assign((static_cast<size_t>(tokens.size()) + 63) / 64, 0);
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
    for (uint32_t t = node.token_begin; t < nodes[i + 1].token_begin; ++t) {
      const auto id = static_cast<uint32_t>(ids[t]);
      out.bits[id / 64] |= uint64_t{1} << (id % 64);
    }
    count += nodes[i + 1].token_begin - node.token_begin;
    ++i;
  }
  if (is_complete()) {
    for (int32_t id : tokens.eos_ids()) {
      const auto u = static_cast<uint32_t>(id);
      count += (out.bits[u / 64] >> (u % 64) & 1) == 0;
      out.bits[u / 64] |= uint64_t{1} << (u % 64);
    }
  }
  out.count = count;
  out.state = state_;
}

const GrammarMatcher::CachedMask& GrammarMatcher::current_mask(const TokenTable& tokens) {
  maybe_compact();
  if (masks_table_ != &tokens) {
    masks_.clear();
    masks_table_ = &tokens;
  }
  ++clock_;
  for (CachedMask& m : masks_) {
    if (m.state == state_) {
      m.last_used = clock_;
      return m;
    }
  }
  CachedMask* slot;
  if (masks_.size() < kCachedMasks) {
    slot = &masks_.emplace_back();
  } else {
    slot = &*std::min_element(masks_.begin(), masks_.end(),
                              [](const CachedMask& a, const CachedMask& b) { return a.last_used < b.last_used; });
  }
  walk(tokens, *slot);
  slot->last_used = clock_;
  return *slot;
}

size_t GrammarMatcher::fill_allowed(const TokenTable& tokens, std::vector<uint8_t>& allowed) {
  allowed.assign(static_cast<size_t>(tokens.size()), 0);
  if (finished_) return 0;
  const CachedMask& m = current_mask(tokens);
  for (size_t i = 0; i < allowed.size(); ++i) allowed[i] = m.bits[i / 64] >> (i % 64) & 1;
  return m.count;
}

size_t GrammarMatcher::mask_logits(std::span<float> logits, const TokenTable& tokens) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (finished_) {
    std::fill(logits.begin(), logits.end(), kNegInf);
    return 0;
  }
  const CachedMask& m = current_mask(tokens);
  const size_t common = std::min(logits.size(), static_cast<size_t>(tokens.size()));
  for (size_t w = 0; w * 64 < common; ++w) {
    const uint64_t word = m.bits[w];
    const size_t end = std::min(common, w * 64 + 64);
    if (word == ~uint64_t{0} && end == w * 64 + 64) continue;
    for (size_t i = w * 64; i < end; ++i) {
      if (!(word >> (i % 64) & 1)) logits[i] = kNegInf;
    }
  }
  for (size_t i = common; i < logits.size(); ++i) logits[i] = kNegInf;
  return m.count;
}

void GrammarMatcher::clear_mask_cache() { masks_.clear(); }

size_t GrammarMatcher::cached_states() const { return automaton_->state_count(); }

}  // namespace dm
