// Sliding-window perplexity, as in Hugging Face's "Perplexity of fixed-length models" guide: windows
// of `window` tokens start every `stride` tokens; in each window only the tokens not scored by an
// earlier window count, each predicted with as much left context as the window gives. With
// stride < window every token but the first is scored exactly once; with stride == window a window's
// first token has no context in it and is not scored (as in the guide). The mean is over the tokens
// actually scored (the guide's per-window "num_valid - 1" weighting is an approximation of this).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace dm {

class Model;

struct PerplexityResult {
  double nll_sum = 0;  // natural-log negative log-likelihood, summed
  int64_t tokens = 0;  // tokens scored
  int windows = 0;
  double mean_nll() const { return tokens ? nll_sum / static_cast<double>(tokens) : 0.0; }
  double ppl() const;
};

// Runs one window from a fresh state: logits [ids.size(), vocab], row j predicting token j + 1.
using WindowLogitsFn = std::function<void(std::span<const int32_t> ids, std::vector<float>& logits)>;

// Error(kInvalidArgument) when window < 2, stride < 1 or stride > window, or fewer than 2 ids.
PerplexityResult perplexity(const WindowLogitsFn& run, int vocab, std::span<const int32_t> ids, int window, int stride,
                            bool progress = false);
// Over the engine (window <= 0: the model's max_position_embeddings; stride <= 0: window / 2).
PerplexityResult perplexity(const Model& model, std::span<const int32_t> ids, int window, int stride,
                            bool progress = false);

}  // namespace dm
