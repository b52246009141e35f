// Byte-level BPE over one pre-tokenised piece. Two merge rules, one algorithm:
//  - tiktoken (qwen.tiktoken): adjacent parts merge if their concatenated bytes are a token; the
//    token's rank is both its id and its priority (lower merges first).
//  - merges (tokenizer.json / merges.txt): only listed pairs (a, b) merge, priority = line number.
// Either way: repeatedly merge the lowest-priority adjacent pair, leftmost on ties.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dm {

class BpeModel {
 public:
  enum class Mode { kTiktoken, kMerges };
  explicit BpeModel(Mode mode = Mode::kTiktoken) : mode_(mode) {}

  Mode mode() const { return mode_; }
  // Registers a regular token; ids may come in any order (gaps stay empty).
  void add_token(std::string bytes, int32_t id);
  // kMerges only: pair (a, b) -> merged, with priority `rank`. Returns false if it duplicates a pair.
  bool add_merge(int32_t a, int32_t b, int32_t merged, int32_t rank);
  // Builds the lookup table; checks that every single byte is a token. Call once after adding.
  void finalize();

  // Appends the ids of `piece` (raw bytes) to out.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

  std::optional<int32_t> find(std::string_view bytes) const;
  bool has_id(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < bytes_.size() && present_[static_cast<size_t>(id)];
  }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  int32_t max_id() const { return static_cast<int32_t>(bytes_.size()) - 1; }
  // The merges as (left id, right id) in priority order. kTiktoken has none stored: each multi-byte token
  // is split into the two parts BPE over its own bytes ends with when only lower ranks may merge (what
  // llama.cpp's converter writes for Qwen1). Error(kFormat) for a token BPE cannot build from two parts.
  std::vector<std::pair<int32_t, int32_t>> merges_in_order() const;
  size_t size() const { return count_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  static constexpr int32_t kNoRank = INT32_MAX;

  Merge pair_merge(std::string_view piece, size_t start, size_t len, int32_t a, int32_t b) const;
  void encode_short(std::string_view piece, std::vector<int32_t>& out) const;
  void encode_long(std::string_view piece, std::vector<int32_t>& out) const;

  Mode mode_;
  std::vector<std::string> bytes_;  // id -> token bytes
  std::vector<bool> present_;
  size_t count_ = 0;
  std::vector<int32_t> table_;  // open addressing: token bytes -> id (-1 empty)
  size_t mask_ = 0;
  std::unordered_map<uint64_t, Merge> merges_;
  int32_t byte_id_[256];
};

}  // namespace dm
