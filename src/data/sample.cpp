#include "data/sample.h"

#include <algorithm>
#include <map>
#include <random>

#include "data/clean.h"
#include "devops_model/core/threads.h"

namespace dm::data {
namespace {

struct Reservoir {
  int64_t seen = 0;
  std::vector<nlohmann::json> items;
};

}  // namespace

std::vector<nlohmann::json> sample_paragraphs(const SampleOptions& opts) {
  std::mt19937_64 rng(opts.seed);
  std::map<std::string, Reservoir> res;
  auto offer = [&](nlohmann::json row, const std::string& source) {
    Reservoir& r = res[source];
    r.seen++;
    if (static_cast<int64_t>(r.items.size()) < opts.n) {
      r.items.push_back(std::move(row));
    } else {
      uint64_t j = rng() % static_cast<uint64_t>(r.seen);  // Algorithm R
      if (j < static_cast<uint64_t>(opts.n)) r.items[j] = std::move(row);
    }
  };
  for (const auto& path : opts.inputs) {
    DocReader reader(path, opts.reader);
    std::vector<Document> batch;
    std::vector<DocVerdict> verdicts;
    for (bool more = true; more;) {
      batch.clear();
      Document d;
      while (batch.size() < opts.batch_docs && (more = reader.next(&d))) batch.push_back(d);
      verdicts.assign(batch.size(), DocVerdict{});
      parallel_for(static_cast<int64_t>(batch.size()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) verdicts[i] = judge_document(batch[i].text, opts.recipe, nullptr);
      });
      for (size_t i = 0; i < batch.size(); ++i) {
        const auto& v = verdicts[i];
        if (!v.document_rule.empty()) continue;
        for (size_t p = 0; p < v.paragraphs.size(); ++p) {
          if (!v.paragraph_rule[p].empty()) continue;
          offer({{"id", batch[i].id + "#" + std::to_string(p)},
                 {"doc_id", batch[i].id},
                 {"source", batch[i].source},
                 {"text", v.paragraphs[p]},
                 {"label", ""}},
                batch[i].source);
        }
      }
    }
  }
  // Largest-remainder allocation of n over sources by paragraph count.
  int64_t total = 0;
  for (auto& [s, r] : res) total += r.seen;
  if (total == 0) return {};
  int64_t n = std::min(opts.n, total);
  std::vector<std::pair<double, std::string>> rema;
  std::map<std::string, int64_t> quota;
  int64_t given = 0;
  for (auto& [s, r] : res) {
    double exact = static_cast<double>(n) * static_cast<double>(r.seen) / static_cast<double>(total);
    quota[s] = static_cast<int64_t>(exact);
    given += quota[s];
    rema.emplace_back(-(exact - static_cast<double>(quota[s])), s);
  }
  std::sort(rema.begin(), rema.end());
  for (size_t i = 0; given < n && i < rema.size(); ++i, ++given) quota[rema[i].second]++;
  std::vector<nlohmann::json> out;
  for (auto& [s, r] : res) {
    std::shuffle(r.items.begin(), r.items.end(), rng);
    int64_t k = std::min<int64_t>(quota[s], static_cast<int64_t>(r.items.size()));
    std::vector<nlohmann::json> part(r.items.begin(), r.items.begin() + k);
    std::sort(part.begin(), part.end(), [](const auto& a, const auto& b) { return a["id"] < b["id"]; });
    for (auto& row : part) out.push_back(std::move(row));
  }
  return out;
}

}  // namespace dm::data
