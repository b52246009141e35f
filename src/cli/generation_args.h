// Sampling flags shared by chat and serve: override generation_config.json field by field.
#pragma once
#include <optional>

#include "cli/command.h"
#include "devops_model/generate/generation_params.h"

namespace dm::cli {

struct GenerationArgs {
  bool greedy = false;
  std::optional<uint64_t> seed;
  std::optional<double> temperature, top_p, repetition_penalty;
  std::optional<int> top_k, max_new_tokens;

  void add(CLI::App& app);
  void apply(GenerationParams& p) const;
  // The model's generation_config.json (defaults when absent) with these flags applied.
  GenerationParams params_for(const std::string& model_dir) const;
};

}  // namespace dm::cli
