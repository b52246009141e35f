// The vocabulary as constrained decoding sees it: each token's bytes in a byte trie (pre-order, so a
// matcher walks it once per step and skips a whole subtree when the grammar rejects its prefix), plus
// the end-of-sequence ids, which are allowed only where the grammar can end.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dm {

class Tokenizer;

class TokenTable {
 public:
  // tokens[id] = the bytes the token stands for; an empty string marks an id that is never allowed
  // (special tokens, padding rows). eos_ids are allowed only when the grammar is complete.
  TokenTable(std::vector<std::string> tokens, std::vector<int32_t> eos_ids);
  // Every regular token's bytes (Tokenizer::token_bytes); special tokens other than eos_ids excluded.
  static TokenTable from_tokenizer(const Tokenizer& tok, std::vector<int32_t> eos_ids);

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& bytes(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  bool is_eos(int32_t id) const;
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }

  // One trie node: the byte on the edge from its parent, its depth (1 = first byte), the index just
  // past its subtree, and its tokens token_ids()[token_begin .. next node's token_begin).
  struct Node {
    uint32_t subtree_end;
    uint32_t token_begin;
    uint16_t depth;
    uint8_t byte;
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int32_t>& token_ids() const { return token_ids_; }
  size_t max_depth() const { return max_depth_; }

 private:
  std::vector<std::string> tokens_;
  std::vector<int32_t> eos_ids_;
  std::vector<Node> nodes_;         // pre-order; one sentinel at the end (token_begin = token_ids_.size())
  std::vector<int32_t> token_ids_;  // grouped by node, in node order
  size_t max_depth_ = 0;
};

}  // namespace dm
