// Log-probabilities of generated tokens (OpenAI `logprobs` / `top_logprobs`): the log-softmax of the
// scores a token was actually drawn from (after repetition penalty, temperature, top-k/top-p and any
// grammar mask; for greedy choice the penalised, masked logits at temperature 1).
#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace dm {

struct TokenLogprob {
  int32_t id = -1;
  float logprob = 0;
  // The most likely tokens, most likely first (ties: lower id first); never an entry of probability 0.
  std::vector<std::pair<int32_t, float>> top;
};

// Most alternatives an OpenAI request may ask for (top_logprobs 0..20).
inline constexpr int kMaxTopLogprobs = 20;

// log-softmax(scores)[chosen] and the `top_n` largest entries (-inf entries, i.e. tokens filtered out or
// masked, are never listed; fewer than top_n when fewer are possible). Error(kInvalidArgument) when
// `chosen` is out of range or all scores are -inf.
TokenLogprob token_logprob(std::span<const float> scores, int32_t chosen, int top_n);

}  // namespace dm
