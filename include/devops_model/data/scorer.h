// Paragraph quality scorer: hashed character n-gram features + logistic regression (liblinear),
// trained on ~1000 paragraphs labelled by engineers. score(text) = P(good | text) in [0, 1].
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dm::data {

// Character n-grams (n_min..n_max, code points, ASCII lower-cased, whitespace runs as one ' '),
// hashed into `dims` buckets; values log(1 + count), L2-normalised. Needs no model.
struct HashedNgramFeaturiser {
  int n_min = 1, n_max = 3;
  int dims = 1 << 18;
  // Sparse features sorted by index (0-based).
  std::vector<std::pair<int, double>> featurise(std::string_view text) const;
};

struct LabelledText {
  std::string text;
  int label = 0;  // 1 = good, 0 = bad
};

struct TrainOptions {
  double c = 1.0;      // inverse regularisation strength (liblinear -c)
  int folds = 5;       // k of the k-fold cross-validation (0/1 = none)
  uint32_t seed = 1;   // fold assignment
  HashedNgramFeaturiser featuriser;
};

struct TrainReport {
  int64_t examples = 0, positives = 0;
  int folds = 0;
  double cv_accuracy = 0, cv_auc = 0;  // over pooled out-of-fold predictions
};

class Scorer {
 public:
  double score(std::string_view text) const;  // sigmoid(w . x + b)
  void save(const std::string& path) const;   // JSON, atomically
  static Scorer load(const std::string& path);

  HashedNgramFeaturiser featuriser;
  std::vector<float> weights;  // dims entries, oriented so that positive = good
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
