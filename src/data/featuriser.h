// Paragraph featurisers for the quality scorer: one interface, two implementations.
//  - HashedNgramFeaturiser: hashed character n-grams; needs no model.
//  - SbertFeaturiser: Sentence-BERT embeddings (WordPiece + BERT encoder + the model's pooling), run by
//    our own engine; the seed's featuriser.
// A featuriser records itself as JSON so that a saved scorer recreates exactly the features it was
// trained on.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devops_model/core/tensor.h"

namespace dm {
class BertEncoder;
class WordPieceTokenizer;
}  // namespace dm

namespace dm::data {

// Sparse features sorted by index (0-based, < dimensions()).
using SparseFeatures = std::vector<std::pair<int, double>>;

class Featuriser {
 public:
  virtual ~Featuriser() = default;
  virtual int dimensions() const = 0;
  // One row per text, in order. Uses all threads (call it outside parallel regions).
  virtual std::vector<SparseFeatures> featurise(const std::vector<std::string_view>& texts) const = 0;
  // {"kind": ..., settings...}; featuriser_from_json() reverses it.
  virtual nlohmann::json to_json() const = 0;
};

// Character n-grams (n_min..n_max, code points, ASCII lower-cased, whitespace runs as one ' '),
// hashed into `dims` buckets; values log(1 + count), L2-normalised.
class HashedNgramFeaturiser : public Featuriser {
 public:
  int n_min = 1, n_max = 3;
  int dims = 1 << 18;

  SparseFeatures featurise_one(std::string_view text) const;
  int dimensions() const override { return dims; }
  std::vector<SparseFeatures> featurise(const std::vector<std::string_view>& texts) const override;
  nlohmann::json to_json() const override;  // {"kind": "hashed_char_ngram", "n_min", "n_max", "dims"}
};

// Sentence embedding of a paragraph (dense, `hidden_size` features), truncated to max_length tokens.
class SbertFeaturiser : public Featuriser {
 public:
  // Loads vocab.txt, tokenizer_config.json, config.json, weights and pooling from `model_dir`.
  // max_length <= 0: the tokenizer's model_max_length; always capped by max_position_embeddings.
  explicit SbertFeaturiser(const std::string& model_dir, int64_t max_length = 0, int64_t batch_size = 32);
  ~SbertFeaturiser() override;

  // Embeddings (N, hidden_size), in input order. Tokenisation is parallel over texts; the encoder
  // runs length-sorted batches of batch_size with multi-threaded kernels.
  Tensor embed(const std::vector<std::string_view>& texts) const;

  int dimensions() const override;
  std::vector<SparseFeatures> featurise(const std::vector<std::string_view>& texts) const override;
  // {"kind": "sbert", "model": absolute dir, "dims", "max_length", "pooling"}
  nlohmann::json to_json() const override;
  const std::string& model_dir() const { return model_dir_; }
  int64_t max_length() const { return max_length_; }

 private:
  std::string model_dir_;
  int64_t max_length_, batch_size_;
  std::unique_ptr<WordPieceTokenizer> tokenizer_;
  std::unique_ptr<BertEncoder> encoder_;
};

// Recreates a featuriser from to_json(). `bert_model` (if not empty) replaces the recorded model
// directory of an sbert featuriser (a scorer moved to another machine); its hidden size must match.
// Error(kFormat) naming `path` for bad settings.
std::shared_ptr<const Featuriser> featuriser_from_json(const nlohmann::json& j, const std::string& path,
                                                       const std::string& bert_model = "");

}  // namespace dm::data
