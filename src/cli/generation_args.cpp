#include "cli/generation_args.h"

namespace dm::cli {

void GenerationArgs::add(CLI::App& app) {
  app.add_flag("--greedy", greedy, "argmax decoding (do_sample=false; repetition penalty still applies, as in HF)");
  app.add_option("--seed", seed, "sampling seed (same seed, same reply)");
  app.add_option("--temperature", temperature, "softmax temperature (0 = greedy)")->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", top_p, "nucleus sampling mass (1 = off)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--top-k", top_k, "keep the k most likely tokens (0 = off)")->check(CLI::NonNegativeNumber);
  app.add_option("--repetition-penalty", repetition_penalty, "HF repetition penalty (1 = off)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-new-tokens", max_new_tokens, "reply length limit")->check(CLI::PositiveNumber);
}

void GenerationArgs::apply(GenerationParams& p) const {
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
