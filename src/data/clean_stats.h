// Counters of a cleaning run, mergeable across files and shards, and their report (JSON + Markdown).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "devops_model/data/doc_io.h"

namespace dm::data {

struct StageCounts {
  int64_t docs = 0, paragraphs = 0, chars = 0;
};

// Stages in pipeline order; counts are what is left *after* each stage.
enum Stage { kInput = 0, kDocumentRules, kParagraphRules, kParagraphDedup, kScorer, kNumStages };
const char* stage_name(int stage);

struct SourceCounts {
  int64_t docs_in = 0, chars_in = 0, docs_out = 0, chars_out = 0;
};

struct Drop {
  int64_t count = 0, chars = 0;
};

struct CleanStats {
  std::array<StageCounts, kNumStages> stages{};
  std::map<std::string, Drop> document_drops;   // rule -> documents dropped by it (first failing rule)
  std::map<std::string, Drop> paragraph_drops;  // rule -> paragraphs dropped ("dedup_exact", "pareto" too)
  std::map<std::string, SourceCounts> sources;  // capped at kMaxSources, the rest under "(other)"
  std::array<int64_t, 10> score_histogram{};    // scored paragraphs by score decile
  BadInputStats bad_input;
  int64_t files = 0, files_skipped = 0;
  int64_t bytes_in = 0;
  double seconds = 0;  // wall time of the files processed in this run (not skipped ones)
  static constexpr size_t kMaxSources = 1000;

  SourceCounts& source(const std::string& name);
  void merge(const CleanStats& other);
  nlohmann::json to_json() const;
  static CleanStats from_json(const nlohmann::json& j);
  std::string to_markdown() const;
};

}  // namespace dm::data
