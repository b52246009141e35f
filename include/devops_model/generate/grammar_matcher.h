// Constrained decoding: which tokens may come next under a grammar, and the state after each one.
//
//   GrammarMatcher m(Grammar::parse(gbnf));           // or json_schema_grammar(schema)
//   TokenTable table = TokenTable::from_tokenizer(tok, {eos_id});   // once per vocabulary
//   loop: m.mask_logits(logits, table); id = sample(logits); m.accept_token(id, table);
//         stop when id is an eos id (accepted only where the grammar can end)
//
// The matcher is a pushdown automaton over bytes whose states are cached as they are met (see
// src/generate/grammar_automaton.h); mask_logits walks the vocabulary's byte trie once, pruning each
// subtree whose prefix the grammar rejects. Tokens may end in the middle of a UTF-8 character: the next
// token must then complete it. One matcher per generation stream; not thread-safe. A TokenTable is
// immutable and may be shared by any number of matchers. A grammar so ambiguous that over
// GrammarAutomaton::kMaxStacks (65536) parses stay open at once makes any call that steps over bytes
// (accept_*, can_accept, must_end, fill_allowed, mask_logits) throw Error (kInvalidArgument); the
// matcher's state is then unchanged.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "devops_model/generate/grammar.h"
#include "devops_model/generate/token_table.h"

namespace dm {

class GrammarAutomaton;

class GrammarMatcher {
 public:
  explicit GrammarMatcher(const Grammar& grammar);
  ~GrammarMatcher();
  GrammarMatcher(GrammarMatcher&&) noexcept;
  GrammarMatcher& operator=(GrammarMatcher&&) noexcept;

  // Advances over `bytes`; false (state unchanged) if the grammar rejects them at some byte.
  bool accept_bytes(std::string_view bytes);
  // Whether accept_bytes(bytes) would succeed, without advancing.
  bool can_accept(std::string_view bytes);
  // Advances over a sampled token. An eos id is accepted only when is_complete() and finishes the
  // match; any other token is accepted when its bytes are (false, state unchanged, otherwise).
  bool accept_token(int32_t id, const TokenTable& tokens);
  // The start rule can end after what was accepted so far (no partial UTF-8 character pending).
  bool is_complete() const;
  // Nothing but an eos can follow: complete, and no byte can extend the text.
  bool must_end();
  bool is_finished() const { return finished_; }
  // Back to the start (keeps the cached states).
  void reset();

  // allowed[id] = 1 if token id may come next (its bytes continue the text validly, or it is an eos id
  // and the text is complete), else 0; allowed.size() = tokens.size(). Returns the number allowed.
  size_t fill_allowed(const TokenTable& tokens, std::vector<uint8_t>& allowed);
  // Sets logits[id] = -inf for every id not allowed (ids >= tokens.size() included). Returns the number
  // of ids left: 0 after an eos was accepted, or if no token fits (with a byte-level vocabulary, only
  // for a table whose tokens cannot spell what the grammar needs).
  size_t mask_logits(std::span<float> logits, const TokenTable& tokens);

  // Cached automaton states (for tests and benchmarks); the cache is dropped past kMaxCachedStates.
  size_t cached_states() const;
  static constexpr size_t kMaxCachedStates = 8192;  // x 1 KB of transitions each
  // Masks kept for the most recently used states (vocabulary / 8 bytes each: 19 KB for Qwen).
  static constexpr size_t kCachedMasks = 8;
  // Forgets the kept masks (the next mask_logits walks the trie again): for benchmarks.
  void clear_mask_cache();

 private:
  struct CachedMask;
  void maybe_compact();
  const CachedMask& current_mask(const TokenTable& tokens);
  void walk(const TokenTable& tokens, CachedMask& out);

  std::unique_ptr<GrammarAutomaton> automaton_;
  int32_t state_;
  bool finished_ = false;
  std::vector<int32_t> walk_;  // state per trie depth during walk()
  std::vector<CachedMask> masks_;
  const TokenTable* masks_table_ = nullptr;  // the table masks_ were computed for
  uint64_t clock_ = 0;
};

}  // namespace dm
