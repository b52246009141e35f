// The cleaning pipeline: document rules -> paragraph split -> paragraph rules -> exact paragraph dedup
// -> (optional) scorer + Pareto sampling -> kept paragraphs reassembled per document.
//
// Streaming and constant memory: documents are read in batches; a batch is processed on all threads
// (each document independently), then merged, deduplicated, sampled and written sequentially in input
// order, so the output is byte-identical for any thread count. The paragraph-dedup hash set (8 bytes
// per distinct kept paragraph) is the only state that grows with the corpus.
//
// Sharding: input file k belongs to shard k % n. Each input file gets its own output
// "<DIR>/<k:05>-<stem>.jsonl.zst" and, once that file is complete, a marker
// "<DIR>/.done/<k:05>-<stem>.json" holding its statistics (written atomically after the output's
// rename). Re-running skips files whose marker exists. Every run rewrites DIR/report.json and
// DIR/report.md from all markers present, so the last shard to finish leaves the complete report.
#pragma once
#include <string>
#include <vector>

#include "data/clean_stats.h"
#include "data/scorer.h"
#include "devops_model/data/doc_io.h"
#include "devops_model/data/recipe.h"

namespace dm::data {

struct CleanOptions {
  Recipe recipe;
  std::vector<std::string> inputs;
  std::string output_dir;
  int shard_index = 0, shard_count = 1;
  ReaderOptions reader;
  bool compress = true;            // .jsonl.zst (else .jsonl)
  size_t batch_docs = 2048;        // documents per parallel batch (memory bound)
  const Scorer* scorer = nullptr;  // if set: score + Pareto-sample paragraphs (recipe.pareto)
};

// Result of the per-document (parallel, stateless) part; exposed for tests.
struct DocVerdict {
  std::string document_rule;  // "" = passed the document rules
  std::vector<std::string> paragraphs;
  std::vector<std::string> paragraph_rule;  // "" = passed
  std::vector<int64_t> paragraph_chars;
  std::vector<uint64_t> dedup_hash;
  std::vector<double> score;  // scorer output (only when a scorer is set)
  int64_t chars = 0;
};
DocVerdict judge_document(const std::string& text, const Recipe& recipe, const Scorer* scorer);

// Runs this shard; returns the statistics of this shard's files (skipped ones included from their
// markers). Throws on I/O errors and, with reader.strict, on the first bad input.
CleanStats run_clean(const CleanOptions& opts);

// Merges every marker under DIR/.done and writes DIR/report.json and DIR/report.md atomically.
CleanStats write_clean_report(const std::string& output_dir);

}  // namespace dm::data
