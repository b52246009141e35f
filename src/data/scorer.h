// Paragraph quality scorer: featuriser (hashed character n-grams or Sentence-BERT embeddings, see
// featuriser.h) + logistic regression (liblinear), trained on ~1000 paragraphs labelled by engineers.
// score(text) = P(good | text) in [0, 1].
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/featuriser.h"

namespace dm::data {

struct LabelledText {
  std::string text;
  int label = 0;  // 1 = good, 0 = bad
};

struct TrainOptions {
  double c = 1.0;     // inverse regularisation strength (liblinear -c)
  int folds = 5;      // k of the k-fold cross-validation (0/1 = none)
  uint32_t seed = 1;  // fold assignment
  std::shared_ptr<const Featuriser> featuriser = std::make_shared<HashedNgramFeaturiser>();
};

struct TrainReport {
  int64_t examples = 0, positives = 0;
  int folds = 0;
  double cv_accuracy = 0, cv_auc = 0;  // over pooled out-of-fold predictions
};

class Scorer {
 public:
  double score(std::string_view text) const;  // sigmoid(w . x + b)
  // Scores of many texts, in order; featurises in chunks (bounded memory) on all threads.
  std::vector<double> score_batch(const std::vector<std::string_view>& texts) const;
  // JSON {"type": "paragraph_scorer", "featuriser": {...}, "bias", "weights": [[i, w], ...]}, atomically.
  void save(const std::string& path) const;
  // Also reads the older hashed-n-gram-only files. bert_model: see featuriser_from_json().
  static Scorer load(const std::string& path, const std::string& bert_model = "");

  std::shared_ptr<const Featuriser> featuriser;
  std::vector<float> weights;  // featuriser->dimensions() entries, oriented so that positive = good
  double bias = 0;
};

// Fits L2-regularised logistic regression on all examples after k-fold cross-validation.
// Error(kInvalidArgument) unless both labels occur.
Scorer train_scorer(const std::vector<LabelledText>& data, const TrainOptions& opts, TrainReport* report);

// Area under the ROC curve (ties count 1/2); 0.5 if one class is missing.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// Reads labelled JSONL: a `text` field and a `label` field (0/1, true/false, "0"/"1", "good"/"bad");
// lines with an empty or null label are skipped (unlabelled sample rows).
std::vector<LabelledText> load_labels(const std::string& path);

}  // namespace dm::data
