// One pass for the normaliser (max, then the sum of exponentials), one for the top entries
// (a small sorted buffer: top_n <= 20 against a vocabulary of ~150k).
#include "devops_model/generate/token_logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "devops_model/core/error.h"

namespace dm {

TokenLogprob token_logprob(std::span<const float> scores, int32_t chosen, int top_n) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (chosen < 0 || static_cast<size_t>(chosen) >= scores.size())
    fail(ErrorKind::kInvalidArgument, "logprobs: token ", chosen, " outside the ", scores.size(), " scores");
  float mx = kNegInf;
  for (float x : scores) mx = std::max(mx, x);
  if (mx == kNegInf) fail(ErrorKind::kInvalidArgument, "logprobs: every score is -inf");
  // exp in float (a few ulp; the sum in double): a third of double exp's cost over 150k entries, and
  // nothing for -inf entries (masked or filtered out), which are most of them under top-k or a grammar.
  double z = 0;
  for (float x : scores)
    if (x != kNegInf) z += static_cast<double>(std::exp(x - mx));
  const double log_z = static_cast<double>(mx) + std::log(z);
  auto logprob = [&](float x) { return static_cast<float>(static_cast<double>(x) - log_z); };

  TokenLogprob out;
  out.id = chosen;
  out.logprob = logprob(scores[static_cast<size_t>(chosen)]);
  const size_t n = static_cast<size_t>(std::clamp(top_n, 0, kMaxTopLogprobs));
  if (n == 0) return out;
  // Sorted by score descending, then id ascending: ids arrive in increasing order, so a new entry only
  // displaces strictly smaller scores.
  std::vector<std::pair<int32_t, float>> best;
  best.reserve(n + 1);
  for (size_t i = 0; i < scores.size(); ++i) {
    const float x = scores[i];
    if (x == kNegInf || (best.size() == n && x <= best.back().second)) continue;
    auto at = std::upper_bound(best.begin(), best.end(), x,
                               [](float v, const std::pair<int32_t, float>& e) { return v > e.second; });
    best.insert(at, {static_cast<int32_t>(i), x});
    if (best.size() > n) best.pop_back();
  }
  for (auto& [id, x] : best) x = logprob(x);
  out.top = std::move(best);
  return out;
}

}  // namespace dm
