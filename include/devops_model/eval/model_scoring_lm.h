// ScoringLm over the engine: dm::Model + dm::Tokenizer with one KV cache that is truncated back to the
// shared prefix between questions.
#pragma once
#include <memory>

#include "devops_model/eval/scoring_lm.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

class ModelScoringLm : public ScoringLm {
 public:
  // Both must outlive this object.
  ModelScoringLm(const Model& model, const Tokenizer& tokenizer);
  ~ModelScoringLm() override;

  std::vector<int32_t> encode(std::string_view text) const override;
  void reserve(int tokens) override;
  void run(int keep, std::span<const int32_t> ids, std::vector<float>& logits) override;
  double ntk_alpha_for(int len) const override;

 private:
  const Model& model_;
  const Tokenizer& tok_;
  std::unique_ptr<KVCache> cache_;
};

}  // namespace dm
