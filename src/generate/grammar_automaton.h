// Internal: the grammar's pushdown automaton over bytes, determinised lazily.
//
// A parse stack is a chain of element positions (innermost last, as in llama.cpp's llama_grammar); stacks
// are interned as (top position, parent stack) nodes, so pushing and popping copy nothing and equal
// stacks have equal ids. Node 0 is the empty stack: the start rule has been matched completely.
// A state is a sorted set of stacks, each with a character class on top (or empty), plus a pending
// partial UTF-8 sequence; states are interned too, and each state's transition on a byte is computed
// once and cached in a 256-entry row. Inside a JSON string almost every byte leads back to the same
// state, so walking the vocabulary trie costs about one table lookup per trie node.
//
// Growth: states and nodes accumulate as generation moves through the grammar; compact() drops all
// of them but one state when the caller decides the cache is too big. Not thread-safe.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "devops_model/generate/grammar.h"

namespace dm {

class GrammarAutomaton {
 public:
  using StateId = int32_t;
  static constexpr StateId kDead = -1;

  explicit GrammarAutomaton(Grammar grammar);
  GrammarAutomaton(const GrammarAutomaton&) = delete;  // el_ refers into grammar_
  GrammarAutomaton& operator=(const GrammarAutomaton&) = delete;

  StateId initial() const { return initial_; }
  // The state after one more byte, or kDead when no parse stack accepts it (invalid UTF-8 included).
  // Throws Error (kInvalidArgument) when the new state would hold over kMaxStacks parse stacks.
  StateId step(StateId s, uint8_t byte) {
    const int32_t t = trans_[static_cast<size_t>(s) * 256 + byte];
    return t != kUnknown ? t : compute_step(s, byte);
  }
  // The start rule can end here (an empty stack is present and no UTF-8 sequence is pending).
  bool accepting(StateId s) const;
  size_t state_count() const { return states_.size(); }
  size_t node_count() const { return nodes_.size(); }
  // Parse stacks one state may hold; step() throws Error (kInvalidArgument) past it. An enum of n strings
  // with a common prefix legitimately holds n stacks; doubling per byte reaches this within 16 bytes.
  static constexpr size_t kMaxStacks = size_t{1} << 16;
  // Drops every cached state and stack node except those of `keep` and the start state; returns keep's
  // new id (initial() changes too).
  StateId compact(StateId keep);
  const Grammar& grammar() const { return grammar_; }

 private:
  static constexpr int32_t kUnknown = -2;
  struct Node {
    uint32_t pos;     // element index: a character class, or a rule reference before expansion
    uint32_t parent;  // node id of the rest of the stack (0 = empty)
  };
  struct State {
    std::vector<uint32_t> stacks;  // sorted node ids
    uint32_t utf8_value = 0;       // bits of a partial UTF-8 character
    uint8_t utf8_left = 0;         // continuation bytes still expected
    uint8_t utf8_len = 0;          // length of that character's encoding
    uint8_t utf8_any = 0;          // every completion is valid and matches every stack (value dropped)
  };
  enum class Coverage { kNone, kPartial, kFull };
  static constexpr uint32_t kAnyCodePoint = 0xFFFFFFFF;

  uint32_t node(uint32_t pos, uint32_t parent);
  StateId intern(State st);
  StateId compute_step(StateId s, uint8_t byte);
  // The stacks `stack` can become without consuming input: rule references expanded to every
  // alternative's first character class, completed rules popped.
  void expand(uint32_t stack, std::vector<uint32_t>& out);
  // Stacks after consuming code point cp from those of `stacks` whose top class matches it
  // (kAnyCodePoint: all of them, known to match).
  std::vector<uint32_t> advance(const std::vector<uint32_t>& stacks, uint32_t cp);
  [[noreturn]] void throw_too_ambiguous() const;
  void partial(const std::vector<uint32_t>& stacks, State& next) const;
  bool class_matches(uint32_t pos, uint32_t cp) const;
  // How much of [lo, hi] (valid code points, no surrogates) the class at `pos` holds.
  Coverage coverage(uint32_t pos, uint32_t lo, uint32_t hi) const;

  Grammar grammar_;
  const std::vector<GrammarElement>& el_;
  std::vector<std::vector<uint32_t>> alt_starts_;  // per rule: first element of each alternative
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> node_ids_;
  std::vector<State> states_;
  std::unordered_map<std::string, StateId> state_ids_;
  std::vector<int32_t> trans_;  // states_.size() x 256
  StateId initial_ = kDead;
  std::vector<uint32_t> scratch_;  // expand()'s work list
  std::vector<uint32_t> seen_;     // expand()'s visited marks per node id: seen when == epoch_
  uint32_t epoch_ = 0;
};

}  // namespace dm
