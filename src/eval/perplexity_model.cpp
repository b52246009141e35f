// perplexity() over the engine (kept apart from perplexity.cpp, which needs no model).
#include <algorithm>

#include "devops_model/eval/perplexity.h"
#include "devops_model/model/model.h"

namespace dm {

PerplexityResult perplexity(const Model& model, std::span<const int32_t> ids, int window, int stride, bool progress) {
  if (window <= 0) window = model.config().max_position_embeddings;
  if (stride <= 0) stride = std::max(1, window / 2);
  auto cache = model.new_cache(window);
  WindowLogitsFn run = [&](std::span<const int32_t> w, std::vector<float>& logits) {
    cache->truncate(0);
    model.forward(w, *cache, logits, true);
  };
  return perplexity(run, model.config().vocab_size, ids, window, stride, progress);
}

}  // namespace dm
