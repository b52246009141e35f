// Corpus-wide document dedup (`data dedup`): exact (normalised-text hash) and MinHash-LSH near-dup.
// Two passes over the input: signatures (parallel per batch, indexed in input order, so the result
// does not depend on the thread count), then the kept documents are copied to DIR.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "devops_model/data/doc_io.h"
#include "devops_model/data/recipe.h"

namespace dm::data {

struct DedupOptions {
  NearDedup near;
  bool exact = true, near_enabled = true;
  std::vector<std::string> inputs;
  std::string output_dir;
  ReaderOptions reader;
  bool compress = true;
  size_t batch_docs = 2048;
};

struct DedupCluster {
  std::string kept_id;
  int64_t size = 1;                  // kept document + its duplicates
  std::vector<std::string> dup_ids;  // the first few duplicates
};

struct DedupReport {
  int64_t docs_in = 0, docs_out = 0, exact_dups = 0, near_dups = 0;
  std::vector<DedupCluster> clusters;  // clusters with at least one duplicate, by first member
  BadInputStats bad_input;
  double seconds = 0;
  nlohmann::json to_json() const;
};

// Writes DIR/<k:05>-<stem>.jsonl(.zst) per input plus DIR/dedup_report.json.
DedupReport run_dedup(const DedupOptions& opts);

}  // namespace dm::data
