// Byte-level BPE training (GPT-2 / Qwen style) and vocabulary extension.
//
// Training: texts are NFC-normalised and split with Qwen's pre-tokenisation regex; each distinct piece
// is a "word" of byte tokens (id = byte value, 0..255) weighted by its count. Merges are learned by pair
// frequency over the words: the most frequent adjacent pair becomes a new token (ties: the smaller
// (left id, right id) pair, so the result is deterministic), until the vocabulary is full or the best
// pair is rarer than min_frequency. Extension continues the same loop from words already encoded by an
// existing tokenizer, giving new ids after the old ones (old ids and merges untouched).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dm {

class Tokenizer;

struct BpeTrainOptions {
  int32_t vocab_size = 4096;  // regular tokens (256 bytes + merges); specials get the ids after them
  int64_t min_frequency = 2;  // stop when the most frequent pair is rarer than this
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  bool progress = true;  // progress bar on stderr
};

// A learned byte-level BPE vocabulary.
struct BpeVocab {
  std::vector<std::string> tokens;                  // id -> token bytes (ids 0..255: the byte itself)
  std::vector<std::pair<int32_t, int32_t>> merges;  // in rank order; merge r made token 256 + r
  std::vector<std::string> special_tokens;          // ids tokens.size(), tokens.size() + 1, ...
};

// Distinct pre-tokenised pieces of a corpus and their counts.
class PieceCounter {
 public:
  PieceCounter();
  ~PieceCounter();
  // NFC + Qwen split regex; every piece counted once per occurrence.
  void add_text(std::string_view text);
  const std::unordered_map<std::string, int64_t>& counts() const { return counts_; }
  int64_t bytes_seen() const { return bytes_; }

 private:
  std::unordered_map<std::string, int64_t> counts_;
  int64_t bytes_ = 0;
  void* pre_;  // Pretokenizer (private to src/tokenizer)
};

// A word as token ids, weighted by its corpus count.
struct BpeWord {
  std::vector<int32_t> ids;
  int64_t count = 0;
};

// The merge loop: up to `n_merges` merges over `words` (rewritten in place), new ids next_id,
// next_id + 1, ... Returns the merged pairs in order; `progress`: a bar on stderr.
std::vector<std::pair<int32_t, int32_t>> learn_merges(std::vector<BpeWord>& words, int32_t next_id, int64_t n_merges,
                                                      int64_t min_frequency, bool progress);

// Trains a vocabulary on the counted pieces.
BpeVocab train_bpe(const PieceCounter& pieces, const BpeTrainOptions& opt);

// HF tokenizer.json text for a trained vocabulary (NFC normaliser, Qwen Split regex + ByteLevel,
// BPE model with vocab/merges, specials as added tokens), which Tokenizer::from_file loads.
std::string bpe_tokenizer_json(const BpeVocab& v);

// Writes dir/tokenizer.json and dir/tokenizer_config.json (ChatML specials; dir is created).
void write_bpe_tokenizer(const BpeVocab& v, const std::string& dir);

struct BpeExtendResult {
  int32_t first_new_id = 0;             // id of the first added token
  int32_t added = 0;                    // tokens actually added (fewer than asked when pairs run out)
  int32_t vocab_size = 0;               // 1 + the largest id afterwards
  std::vector<std::string> new_tokens;  // bytes of the added tokens, in id order
};

// Adds up to `add` merges learned on `pieces` (encoded with the tokenizer in base_dir/tokenizer.json)
// and writes out_dir/tokenizer.json (+ tokenizer_config.json copied). New ids start at
// max(base vocab size, min_first_id) so they also clear a checkpoint's padded embedding rows.
// Error(kUnsupported) when the base has no tokenizer.json (e.g. Qwen1's qwen.tiktoken).
BpeExtendResult extend_bpe_tokenizer(const std::string& base_dir, const PieceCounter& pieces, int32_t add,
                                     int32_t min_first_id, int64_t min_frequency, const std::string& out_dir);

}  // namespace dm
