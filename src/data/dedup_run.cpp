#include "data/dedup_run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unordered_map>

#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/data/dedup.h"

namespace dm::data {
namespace fs = std::filesystem;

nlohmann::json DedupReport::to_json() const {
  nlohmann::json cl = nlohmann::json::array();
  for (const auto& c : clusters) cl.push_back({{"kept", c.kept_id}, {"size", c.size}, {"duplicates", c.dup_ids}});
  nlohmann::json bad = nlohmann::json::object();
  for (int k = 0; k < static_cast<int>(BadInput::kCount); ++k)
    bad[bad_input_name(static_cast<BadInput>(k))] = bad_input.counts[k];
  return {{"docs_in", docs_in},
          {"docs_out", docs_out},
          {"exact_duplicates", exact_dups},
          {"near_duplicates", near_dups},
          {"clusters", cl},
          {"bad_input", bad},
          {"bad_input_examples", bad_input.examples},
          {"warnings", bad_input.warnings},
          {"seconds", seconds}};
}

DedupReport run_dedup(const DedupOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  DedupReport rep;
  MinHasher hasher(opts.near);
  LshIndex index(opts.near);
  std::unordered_map<uint64_t, int64_t> exact;  // hash -> first doc index
  std::vector<bool> keep;
  std::vector<int64_t> cluster_of;    // kept doc index -> position in rep.clusters, or -1
  std::vector<std::string> kept_ids;  // only for kept documents that may head a cluster
  auto note_dup = [&](int64_t head, const std::string& id) {
    if (cluster_of[head] < 0) {
      cluster_of[head] = static_cast<int64_t>(rep.clusters.size());
      rep.clusters.push_back({kept_ids[head], 1, {}});
    }
    auto& c = rep.clusters[cluster_of[head]];
    c.size++;
    if (c.dup_ids.size() < 10) c.dup_ids.push_back(id);
  };
  // Pass 1: decide.
  for (const auto& path : opts.inputs) {
    DocReader reader(path, opts.reader);
    std::vector<Document> batch;
    std::vector<std::vector<uint64_t>> sigs;
    std::vector<uint64_t> hashes;
    for (bool more = true; more;) {
      batch.clear();
      Document d;
      while (batch.size() < opts.batch_docs && (more = reader.next(&d))) batch.push_back(d);
      sigs.assign(batch.size(), {});
      hashes.assign(batch.size(), 0);
      parallel_for(static_cast<int64_t>(batch.size()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          if (opts.exact) hashes[i] = exact_dedup_hash(batch[i].text);
          if (opts.near_enabled) sigs[i] = hasher.signature(batch[i].text);
        }
      });
      for (size_t i = 0; i < batch.size(); ++i) {
        int64_t id = static_cast<int64_t>(keep.size());
        rep.docs_in++;
        kept_ids.push_back(batch[i].id);
        cluster_of.push_back(-1);
        int64_t head = -1;
        if (opts.exact) {
          auto [it, fresh] = exact.try_emplace(hashes[i], id);
          if (!fresh) head = it->second, rep.exact_dups++;
        }
        if (head < 0 && opts.near_enabled) {
          int64_t h = index.add(std::move(sigs[i]));
          if (h >= 0) {
            head = h, rep.near_dups++;
            if (opts.exact) exact[hashes[i]] = h;  // later exact copies point at a kept document
          }
        } else if (opts.near_enabled) {
          index.skip();  // keep LSH positions aligned with document positions
        }
        keep.push_back(head < 0);
        if (head >= 0) {
          note_dup(head, batch[i].id);
          kept_ids.back().clear();
          kept_ids.back().shrink_to_fit();
        }
      }
    }
    rep.bad_input.merge(reader.bad());
  }
  // Pass 2: copy the kept documents.
  make_directories(opts.output_dir);
  int64_t pos = 0;
  for (size_t k = 0; k < opts.inputs.size(); ++k) {
    char key[32];
    std::snprintf(key, sizeof key, "%05zu-", k);
    std::string out =
        (fs::path(opts.output_dir) / (key + file_stem(opts.inputs[k]) + (opts.compress ? ".jsonl.zst" : ".jsonl")))
            .string();
    ReaderOptions ro = opts.reader;
    ro.strict = false;  // already reported in pass 1
    DocReader reader(opts.inputs[k], ro);
    DocWriter writer(out);
    Document d;
    while (reader.next(&d)) {
      if (keep[pos++]) writer.write(d), rep.docs_out++;
    }
    writer.close();
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_file_atomic((fs::path(opts.output_dir) / "dedup_report.json").string(), rep.to_json().dump(2) + "\n");
  return rep;
}

}  // namespace dm::data
