// What option-logit scoring needs from a causal language model: tokenisation and next-token logits
// over a KV cache that can be rolled back to a shared prefix. ModelScoringLm (model_scoring_lm.h)
// adapts dm::Model + dm::Tokenizer; tests may supply their own.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace dm {

class ScoringLm {
 public:
  virtual ~ScoringLm() = default;
  // Token ids of text, special tokens (<|im_start|> ...) recognised.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Makes room for sequences of up to `tokens` positions.
  virtual void reserve(int tokens) = 0;
  // Keeps the first `keep` cached positions (0 = fresh prefill), runs ids after them and returns the
  // logits of the last position in `logits` ([vocab]).
  virtual void run(int keep, std::span<const int32_t> ids, std::vector<float>& logits) = 0;
  // Qwen1 dynamic NTK: the alpha a fresh prefill of len tokens uses (1 when not applicable).
  virtual double ntk_alpha_for(int len) const = 0;
};

}  // namespace dm
