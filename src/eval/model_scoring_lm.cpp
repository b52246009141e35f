#include "devops_model/eval/model_scoring_lm.h"

#include <algorithm>

#include "devops_model/core/error.h"

namespace dm {

ModelScoringLm::ModelScoringLm(const Model& model, const Tokenizer& tokenizer) : model_(model), tok_(tokenizer) {}
ModelScoringLm::~ModelScoringLm() = default;

std::vector<int32_t> ModelScoringLm::encode(std::string_view text) const { return tok_.encode(text, true); }

void ModelScoringLm::reserve(int tokens) {
  if (cache_ && cache_->capacity() >= tokens) return;
  cache_ = model_.new_cache(std::max(tokens, 1));
}

void ModelScoringLm::run(int keep, std::span<const int32_t> ids, std::vector<float>& logits) {
  if (!cache_) reserve(keep + static_cast<int>(ids.size()));
  DM_CHECK(keep <= cache_->size());
  cache_->truncate(keep);
  model_.forward(ids, *cache_, logits, false);
}

double ModelScoringLm::ntk_alpha_for(int len) const { return model_.ntk_alpha_for(len); }

}  // namespace dm
