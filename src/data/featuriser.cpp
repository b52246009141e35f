// Hashed character n-gram featuriser and the featuriser factory (the JSON a scorer saves).
#include "data/featuriser.h"

#include <algorithm>
#include <cmath>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/data/text_util.h"

namespace dm::data {

SparseFeatures HashedNgramFeaturiser::featurise_one(std::string_view text) const {
  std::u32string cps;
  bool space = false;
  for (char32_t c : decode_utf8(text)) {
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space && !cps.empty()) cps.push_back(U' ');
    space = false;
    if (c >= 'A' && c <= 'Z') c += 32;
    cps.push_back(c);
  }
  std::vector<int> idx;  // bucket of every n-gram; sorted runs give the counts (cheaper than a map)
  for (int n = n_min; n <= n_max; ++n) {
    for (size_t i = 0; i + n <= cps.size(); ++i) {
      uint64_t h = hash64(cps.data() + i, n * sizeof(char32_t), static_cast<uint64_t>(n));
      idx.push_back(static_cast<int>(h % static_cast<uint64_t>(dims)));
    }
  }
  std::sort(idx.begin(), idx.end());
  SparseFeatures f;
  double norm = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && idx[j] == idx[i]) ++j;
    double v = std::log1p(static_cast<double>(j - i));
    f.emplace_back(idx[i], v);
    norm += v * v;
    i = j;
  }
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (auto& kv : f) kv.second /= norm;
  }
  return f;
}

std::vector<SparseFeatures> HashedNgramFeaturiser::featurise(const std::vector<std::string_view>& texts) const {
  std::vector<SparseFeatures> out(texts.size());
  parallel_for(static_cast<int64_t>(texts.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = featurise_one(texts[i]);
  });
  return out;
}

nlohmann::json HashedNgramFeaturiser::to_json() const {
  return {{"kind", "hashed_char_ngram"}, {"n_min", n_min}, {"n_max", n_max}, {"dims", dims}};
}

std::shared_ptr<const Featuriser> featuriser_from_json(const nlohmann::json& j, const std::string& path,
                                                       const std::string& bert_model) {
  try {
    const std::string kind = j.value("kind", "hashed_char_ngram");  // files before sbert had no kind
    if (kind == "hashed_char_ngram") {
      auto f = std::make_shared<HashedNgramFeaturiser>();
      f->n_min = j.at("n_min");
      f->n_max = j.at("n_max");
      f->dims = j.at("dims");
      if (f->dims < 1 || f->dims > (1 << 26) || f->n_min < 1 || f->n_max < f->n_min)
        fail(ErrorKind::kFormat, path, ": bad featuriser settings");
      return f;
    }
    if (kind == "sbert") {
      std::string dir = bert_model.empty() ? j.at("model").get<std::string>() : bert_model;
      auto f = std::make_shared<SbertFeaturiser>(dir, j.value("max_length", int64_t{0}));
      int dims = j.at("dims");
      if (f->dimensions() != dims)
        fail(ErrorKind::kFormat, path, ": the scorer was trained on ", dims, "-d embeddings but ", dir, " gives ",
             f->dimensions());
      return f;
    }
    fail(ErrorKind::kFormat, path, ": unknown featuriser kind \"", kind, "\" (hashed_char_ngram, sbert)");
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, path, ": featuriser: ", e.what());
  }
}

}  // namespace dm::data
