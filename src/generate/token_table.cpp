// Builds the pre-order byte trie: tokens sorted by bytes, so each token's node is created when its
// first occurrence (or a longer token it prefixes) is reached, and a node's tokens are contiguous.
#include "devops_model/generate/token_table.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

#include "devops_model/core/error.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

TokenTable::TokenTable(std::vector<std::string> tokens, std::vector<int32_t> eos_ids)
    : tokens_(std::move(tokens)), eos_ids_(std::move(eos_ids)) {
  for (int32_t id : eos_ids_) {
    if (id < 0 || id >= size()) fail(ErrorKind::kInvalidArgument, "token table: eos id ", id, " out of range");
  }
  std::vector<int32_t> order;
  for (int32_t id = 0; id < size(); ++id) {
    if (!tokens_[static_cast<size_t>(id)].empty() && !is_eos(id)) order.push_back(id);
  }
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return tokens_[static_cast<size_t>(a)] < tokens_[static_cast<size_t>(b)];
  });
  std::vector<uint32_t> path;  // node index per depth of the current token's prefix
  std::string_view prev;
  for (int32_t id : order) {
    const std::string& t = tokens_[static_cast<size_t>(id)];
    if (t.size() > std::numeric_limits<uint16_t>::max()) {
      fail(ErrorKind::kInvalidArgument, "token table: token ", id, " is over 65535 bytes");
    }
    size_t common = 0;
    while (common < prev.size() && common < t.size() && prev[common] == t[common]) ++common;
    for (; path.size() > common; path.pop_back())
      nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
    for (size_t d = common; d < t.size(); ++d) {
      path.push_back(static_cast<uint32_t>(nodes_.size()));
      nodes_.push_back(
          {0, static_cast<uint32_t>(token_ids_.size()), static_cast<uint16_t>(d + 1), static_cast<uint8_t>(t[d])});
    }
    token_ids_.push_back(id);
    max_depth_ = std::max(max_depth_, t.size());
    prev = t;
  }
  for (; !path.empty(); path.pop_back()) nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back({static_cast<uint32_t>(nodes_.size() + 1), static_cast<uint32_t>(token_ids_.size()), 0, 0});
}

bool TokenTable::is_eos(int32_t id) const { return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end(); }

TokenTable TokenTable::from_tokenizer(const Tokenizer& tok, std::vector<int32_t> eos_ids) {
  std::vector<std::string> tokens(static_cast<size_t>(tok.vocab_size()));
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (!tok.is_special(id)) tokens[static_cast<size_t>(id)] = tok.token_bytes(id);
  }
  return TokenTable(std::move(tokens), std::move(eos_ids));
}

}  // namespace dm
