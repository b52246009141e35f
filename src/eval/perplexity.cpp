#include "devops_model/eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "devops_model/core/error.h"
#include "devops_model/core/progress.h"

namespace dm {

double PerplexityResult::ppl() const { return std::exp(mean_nll()); }

namespace {

// -log softmax(row)[target], in double.
double nll_of(const float* row, int vocab, int32_t target) {
  double mx = row[0];
  for (int v = 1; v < vocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
  double sum = 0;
  for (int v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - mx);
  return std::log(sum) + mx - static_cast<double>(row[target]);
}

}  // namespace

PerplexityResult perplexity(const WindowLogitsFn& run, int vocab, std::span<const int32_t> ids, int window, int stride,
                            bool progress) {
  if (window < 2 || stride < 1 || stride > window) {
    fail(ErrorKind::kInvalidArgument, "perplexity: need window >= 2 and 1 <= stride <= window (got window ", window,
         ", stride ", stride, ")");
  }
  const int n = static_cast<int>(ids.size());
  if (n < 2) fail(ErrorKind::kInvalidArgument, "perplexity: the text has ", n, " tokens; need at least 2");
  PerplexityResult r;
  std::unique_ptr<Progress> bar;
  if (progress) bar = std::make_unique<Progress>("ppl", n, "tok");
  std::vector<float> logits;
  int prev_end = 0;
  for (int begin = 0; begin < n; begin += stride) {
    const int end = std::min(begin + window, n);
    // Tokens prev_end..end-1 are new; token 0 has no context and is never scored.
    const int first = std::max(prev_end, begin + 1);
    run(ids.subspan(begin, end - begin), logits);
    DM_CHECK(logits.size() == static_cast<size_t>(end - begin) * vocab);
    for (int t = first; t < end; ++t) {
      const int32_t target = ids[t];
      if (target < 0 || target >= vocab)
        fail(ErrorKind::kInvalidArgument, "perplexity: token id ", target, " >= vocab");
      r.nll_sum += nll_of(logits.data() + static_cast<size_t>(t - 1 - begin) * vocab, vocab, target);
      ++r.tokens;
    }
    ++r.windows;
    prev_end = end;
    if (bar) bar->set(end);
    if (end == n) break;
  }
  return r;
}

}  // namespace dm
