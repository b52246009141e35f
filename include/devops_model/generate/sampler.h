// Next-token choice with Hugging Face generate() semantics (spec C.4), in HF's order:
// repetition penalty -> temperature -> top-k -> top-p -> softmax -> multinomial; greedy = argmax.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "devops_model/generate/generation_params.h"

namespace dm {

// Logits after HF's processors/warpers (-inf where a token is filtered out). prev_tokens is the whole
// sequence so far (prompt + generated); each distinct id in it is penalised once.
std::vector<float> processed_scores(std::span<const float> logits, std::span<const int32_t> prev_tokens,
                                    const GenerationParams& p);

// processed_scores in place (s holds the logits on entry).
void process_scores(std::vector<float>& s, std::span<const int32_t> prev_tokens, const GenerationParams& p);

// The scores the next token is chosen from, in place (s holds the logits on entry, possibly masked to
// -inf by a grammar): when p.greedy(), the logits after the repetition penalty only (greedy_token's
// argmax); otherwise processed_scores. Their log-softmax is what OpenAI logprobs report.
void choice_scores(std::vector<float>& s, std::span<const int32_t> prev_tokens, const GenerationParams& p);

// The distribution HF samples from (softmax of processed_scores); with temperature 0 it is one-hot
// at the greedy choice. do_sample is ignored here: this is what sampling *would* draw from.
std::vector<float> probabilities(std::span<const float> logits, std::span<const int32_t> prev_tokens,
                                 const GenerationParams& p);

// Greedy choice: argmax after the repetition penalty (HF applies processors, not warpers, when
// do_sample is false); the lowest id wins ties.
int32_t greedy_token(std::span<const float> logits, std::span<const int32_t> prev_tokens, const GenerationParams& p);

// Stateful sampler: owns the RNG (std::mt19937_64 seeded with params.seed), so the same seed and the
// same logits give the same tokens. Not thread-safe; one per generation stream.
class Sampler {
 public:
  explicit Sampler(const GenerationParams& params);
  void reseed(uint64_t seed) { rng_.seed(seed); }
  const GenerationParams& params() const { return params_; }
  GenerationParams& params() { return params_; }

  // Greedy when params().greedy(), else one multinomial draw from probabilities().
  int32_t sample(std::span<const float> logits, std::span<const int32_t> prev_tokens);
  // The same choice from scores already computed by choice_scores(): argmax (lowest id on ties) when
  // greedy, else one draw from their softmax. sample(l, prev) == choose(choice_scores(l, prev)).
  int32_t choose(std::span<const float> scores);

 private:
  GenerationParams params_;
  std::mt19937_64 rng_;
};

}  // namespace dm
