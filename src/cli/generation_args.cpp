#include "cli/generation_args.h"

#include <cmath>
#include <utility>

#include "devops_model/core/error.h"
#include "devops_model/core/limits.h"

namespace dm::cli {

namespace {
// Upper bounds that keep the values finite and meaningful; each flag's bad value is a usage error (exit 2).
constexpr double kMaxScale = 1e6;
}  // namespace

void GenerationArgs::add(CLI::App& app) {
  app.add_flag("--greedy", greedy, "argmax decoding (do_sample=false; repetition penalty still applies, as in HF)");
  app.add_option("--seed", seed, "sampling seed (same seed, same reply)");
  app.add_option("--temperature", temperature, "softmax temperature (0 = greedy)")->check(CLI::Range(0.0, kMaxScale));
  app.add_option("--top-p", top_p, "nucleus sampling mass (1 = off)")
      ->check(CLI::PositiveNumber & CLI::Range(0.0, 1.0));
  app.add_option("--top-k", top_k, "keep the k most likely tokens (0 = off)")
      ->check(CLI::Range(int64_t{0}, kMaxVocabSize));
  app.add_option("--repetition-penalty", repetition_penalty, "HF repetition penalty (1 = off)")
      ->check(CLI::PositiveNumber & CLI::Range(0.0, kMaxScale));
  app.add_option("--max-new-tokens", max_new_tokens, "reply length limit")->check(CLI::Range(1, kMaxNewTokensFlag));
}

void GenerationArgs::apply(GenerationParams& p) const {
  // CLI::Range lets NaN through (every comparison with it is false).
  for (const auto& [flag, v] : {std::pair{"--temperature", temperature}, std::pair{"--top-p", top_p},
                                std::pair{"--repetition-penalty", repetition_penalty}})
    if (v && !std::isfinite(*v)) fail(ErrorKind::kInvalidArgument, flag, ": ", *v, " is not a finite number");
  if (greedy) p.do_sample = false;
  if (seed) p.seed = *seed;
  if (temperature) {
    p.temperature = *temperature;
    if (*temperature > 0 && !greedy) p.do_sample = true;
  }
  if (top_p) p.top_p = *top_p;
  if (top_k) p.top_k = *top_k;
  if (repetition_penalty) p.repetition_penalty = *repetition_penalty;
  if (max_new_tokens) p.max_new_tokens = *max_new_tokens;
}

GenerationParams GenerationArgs::params_for(const std::string& model_dir) const {
  GenerationParams p = generation_params_from_dir(model_dir);
  apply(p);
  return p;
}

}  // namespace dm::cli
