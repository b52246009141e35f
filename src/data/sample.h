// Labelling sample: a stratified (by source) uniform random sample of paragraphs that survive the
// rules, for engineers to label good/bad. Reservoir sampling per source, so one pass, bounded memory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "devops_model/data/doc_io.h"
#include "devops_model/data/recipe.h"

namespace dm::data {

struct SampleOptions {
  Recipe recipe;
  std::vector<std::string> inputs;
  ReaderOptions reader;
  int64_t n = 1000;
  uint32_t seed = 1;
  size_t batch_docs = 2048;
};

// Rows {"id": "<doc id>#<paragraph index>", "doc_id", "source", "text", "label": ""}; each source gets
// a share of n proportional to its paragraph count (largest remainder), ordered by source then id.
std::vector<nlohmann::json> sample_paragraphs(const SampleOptions& opts);

}  // namespace dm::data
