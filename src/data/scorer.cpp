#include "data/scorer.h"

#include <linear.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/data/text_util.h"

namespace dm::data {
namespace {

void quiet(const char*) {}

// liblinear rows: 1-based indices, bias feature appended by liblinear itself (prob.bias), -1 sentinel.
struct Problem {
  std::vector<std::vector<feature_node>> rows;
  std::vector<feature_node*> ptrs;
  std::vector<double> y;
  problem prob{};
  void build(int dims) {
    ptrs.clear();
    for (auto& r : rows) ptrs.push_back(r.data());
    prob.l = static_cast<int>(rows.size());
    prob.n = dims + 1;  // + bias feature
    prob.y = y.data();
    prob.x = ptrs.data();
    prob.bias = 1.0;
  }
};

std::vector<feature_node> to_row(const SparseFeatures& f, int dims) {
  std::vector<feature_node> r;
  r.reserve(f.size() + 2);
  for (auto& [i, v] : f) r.push_back({i + 1, v});
  r.push_back({dims + 1, 1.0});  // bias
  r.push_back({-1, 0.0});
  return r;
}

// Trains on `rows` and returns weights oriented for label 1 (+ bias).
std::pair<std::vector<float>, double> fit(const std::vector<std::vector<feature_node>>& rows,
                                          const std::vector<double>& y, int dims, double c) {
  Problem p;
  p.rows = rows;
  p.y = y;
  p.build(dims);
  parameter param{};
  param.solver_type = L2R_LR;
  param.eps = 0.01;
  param.C = c;
  set_print_string_function(quiet);
  if (const char* err = check_parameter(&p.prob, &param)) fail(ErrorKind::kInvalidArgument, "liblinear: ", err);
  model* m = train(&p.prob, &param);
  int labels[2] = {1, 0};
  if (get_nr_class(m) == 2) get_labels(m, labels);
  double sign = labels[0] == 1 ? 1.0 : -1.0;  // decision value is for labels[0]
  std::vector<float> w(static_cast<size_t>(dims));
  for (int i = 0; i < dims; ++i) w[i] = static_cast<float>(sign * m->w[i]);
  double b = sign * m->w[dims];
  free_and_destroy_model(&m);
  return {std::move(w), b};
}

double apply(const std::vector<float>& w, double b, const SparseFeatures& f) {
  double z = b;
  for (auto& [i, v] : f) z += w[i] * v;
  return 1.0 / (1.0 + std::exp(-z));
}

}  // namespace

double Scorer::score(std::string_view text) const { return score_batch({text})[0]; }

std::vector<double> Scorer::score_batch(const std::vector<std::string_view>& texts) const {
  constexpr size_t kChunk = 1024;  // bounds the dense sbert rows held at once
  std::vector<double> out;
  out.reserve(texts.size());
  for (size_t b = 0; b < texts.size(); b += kChunk) {
    std::vector<std::string_view> part(texts.begin() + b, texts.begin() + std::min(texts.size(), b + kChunk));
    for (const auto& f : featuriser->featurise(part)) out.push_back(apply(weights, bias, f));
  }
  return out;
}

void Scorer::save(const std::string& path) const {
  nlohmann::json j;
  j["type"] = "paragraph_scorer";
  j["model"] = "logistic_regression";
  j["featuriser"] = featuriser->to_json();
  j["bias"] = bias;
  nlohmann::json w = nlohmann::json::array();
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] != 0.0f) w.push_back({i, weights[i]});
  }
  j["weights"] = std::move(w);
  write_file_atomic(path, j.dump() + "\n");
}

Scorer Scorer::load(const std::string& path, const std::string& bert_model) {
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (j.is_discarded() || (type != "paragraph_scorer" && type != "hashed_char_ngram_logistic_regression"))
    fail(ErrorKind::kFormat, path, ": not a scorer file (type paragraph_scorer)");
  Scorer s;
  try {
    s.featuriser = featuriser_from_json(j.at("featuriser"), path, bert_model);
    s.bias = j.at("bias");
    const int dims = s.featuriser->dimensions();
    s.weights.assign(static_cast<size_t>(dims), 0.0f);
    for (const auto& e : j.at("weights")) {
      int64_t i = e.at(0);
      if (i < 0 || i >= dims) fail(ErrorKind::kFormat, path, ": weight index ", i, " out of range");
      s.weights[static_cast<size_t>(i)] = e.at(1).get<float>();
    }
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, path, ": ", e.what());
  }
  return s;
}

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Mann-Whitney U with average ranks for ties.
  double rank_sum = 0;
  int64_t pos = 0, neg = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
    double avg_rank = (static_cast<double>(i) + static_cast<double>(j) + 1.0) / 2.0;
    for (size_t k = i; k < j; ++k) {
      if (labels[idx[k]] == 1) rank_sum += avg_rank, ++pos;
      else ++neg;
    }
    i = j;
  }
  if (pos == 0 || neg == 0) return 0.5;
  return (rank_sum - static_cast<double>(pos) * (pos + 1) / 2.0) / (static_cast<double>(pos) * neg);
}

Scorer train_scorer(const std::vector<LabelledText>& data, const TrainOptions& opts, TrainReport* report) {
  const int dims = opts.featuriser->dimensions();
  std::vector<std::string_view> texts;
  for (const auto& d : data) texts.push_back(d.text);
  std::vector<SparseFeatures> feats = opts.featuriser->featurise(texts);
  std::vector<std::vector<feature_node>> rows;
  std::vector<double> y;
  int64_t pos = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const auto& d = data[i];
    rows.push_back(to_row(feats[i], dims));
    y.push_back(d.label == 1 ? 1.0 : 0.0);
    pos += d.label == 1;
  }
  int64_t n = static_cast<int64_t>(data.size());
  if (pos == 0 || pos == n) fail(ErrorKind::kInvalidArgument, "train-scorer: need both good (1) and bad (0) labels");
  TrainReport rep;
  rep.examples = n;
  rep.positives = pos;
  int k = static_cast<int>(std::min<int64_t>(opts.folds, n));
  if (k >= 2) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937 rng(opts.seed);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<double> cv(static_cast<size_t>(n));
    for (int f = 0; f < k; ++f) {
      std::vector<std::vector<feature_node>> tr_rows;
      std::vector<double> tr_y;
      for (int64_t i = 0; i < n; ++i) {
        if (i % k != f) tr_rows.push_back(rows[order[i]]), tr_y.push_back(y[order[i]]);
      }
      bool both = std::count(tr_y.begin(), tr_y.end(), 1.0) > 0 && std::count(tr_y.begin(), tr_y.end(), 0.0) > 0;
      auto [w, b] = both ? fit(tr_rows, tr_y, dims, opts.c)
                         : std::pair<std::vector<float>, double>{std::vector<float>(dims), 0.0};
      for (int64_t i = f; i < n; i += k) cv[order[i]] = apply(w, b, feats[order[i]]);
    }
    std::vector<int> lab(static_cast<size_t>(n));
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      lab[i] = static_cast<int>(y[i]);
      correct += (cv[i] > 0.5) == (lab[i] == 1);
    }
    rep.folds = k;
    rep.cv_accuracy = static_cast<double>(correct) / static_cast<double>(n);
    rep.cv_auc = roc_auc(cv, lab);
  }
  Scorer s;
  s.featuriser = opts.featuriser;
  std::tie(s.weights, s.bias) = fit(rows, y, dims, opts.c);
  if (report) *report = rep;
  return s;
}

std::vector<LabelledText> load_labels(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(ErrorKind::kIo, path, ": cannot open");
  std::vector<LabelledText> out;
  std::string line;
  int64_t ln = 0;
  while (std::getline(in, line)) {
    ++ln;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string())
      fail(ErrorKind::kFormat, path, ":", ln, ": expected an object with a string 'text'");
    const auto& l = j.value("label", nlohmann::json());
    int label;
    if (l.is_null() || (l.is_string() && l.get<std::string>().empty())) continue;
    if (l.is_boolean()) label = l.get<bool>();
    else if (l.is_number()) label = l.get<double>() > 0.5;
    else if (l.is_string()) {
      std::string s = l.get<std::string>();
      if (s == "1" || s == "good" || s == "true") label = 1;
      else if (s == "0" || s == "bad" || s == "false") label = 0;
      else fail(ErrorKind::kFormat, path, ":", ln, ": label '", s, "' is not 0/1/good/bad");
    } else {
      fail(ErrorKind::kFormat, path, ":", ln, ": bad label");
    }
    out.push_back({j["text"].get<std::string>(), label});
  }
  return out;
}

}  // namespace dm::data
