// Sampling flags shared by chat and serve: override generation_config.json field by field.
#pragma once
#include <optional>

#include "cli/command.h"
#include "devops_model/generate/generation_params.h"

namespace dm::cli {

// --max-new-tokens: at least 1, at most the longest context a config may declare.
inline constexpr int kMaxNewTokensFlag = 1 << 24;

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
