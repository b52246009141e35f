// Float32 arithmetic as torch does it: Python-float settings are cast to float before touching the
// scores; cumulative sums accumulate in double (torch's CPU acc_type) and compare as float.
#include "devops_model/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "devops_model/core/error.h"

namespace dm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void apply_repetition_penalty(std::vector<float>& s, std::span<const int32_t> prev, double penalty) {
  if (penalty == 1.0) return;
  const auto r = static_cast<float>(penalty);
  std::vector<bool> seen(s.size(), false);
  for (int32_t id : prev) {
    if (id < 0 || static_cast<size_t>(id) >= s.size() || seen[static_cast<size_t>(id)]) continue;
    seen[static_cast<size_t>(id)] = true;
    float& x = s[static_cast<size_t>(id)];
    x = x < 0 ? x * r : x / r;
  }
}

// Keeps scores >= the k-th largest (ties kept).
// The k-th largest value (duplicates counted) is the same either way: for the usual small k (Qwen: 20) a
// min-heap of the k largest, one comparison per entry; else nth_element on a copy.
void apply_top_k(std::vector<float>& s, int k) {
  if (k <= 0 || static_cast<size_t>(k) >= s.size()) return;
  float kth;
  if (k <= 256) {
    std::vector<float> heap(s.begin(), s.begin() + k);
    std::make_heap(heap.begin(), heap.end(), std::greater<>());
    for (size_t i = static_cast<size_t>(k); i < s.size(); ++i) {
      if (s[i] <= heap.front()) continue;
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      heap.back() = s[i];
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
    kth = heap.front();
  } else {
    std::vector<float> tmp(s);
    std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<>());
    kth = tmp[static_cast<size_t>(k - 1)];
  }
  for (float& x : s) {
    if (x < kth) x = kNegInf;
  }
}

// HF TopPLogitsWarper: ascending sort, cumulative softmax, drop entries with cum <= 1 - top_p, keep the top one.
void apply_top_p(std::vector<float>& s, double top_p) {
  if (top_p >= 1.0) return;
  std::vector<int32_t> idx;
  idx.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != kNegInf) idx.push_back(static_cast<int32_t>(i));  // -inf entries have probability 0: removed anyway
  }
  if (idx.size() <= 1) return;
  std::stable_sort(idx.begin(), idx.end(),
                   [&](int32_t a, int32_t b) { return s[static_cast<size_t>(a)] < s[static_cast<size_t>(b)]; });
  const float mx = s[static_cast<size_t>(idx.back())];
  double z = 0;
  for (int32_t i : idx) z += std::exp(static_cast<double>(s[static_cast<size_t>(i)] - mx));
  const auto threshold = static_cast<float>(1.0 - top_p);
  double cum = 0;
  for (size_t j = 0; j + 1 < idx.size(); ++j) {  // the last (largest) is always kept
    const auto pj = static_cast<float>(std::exp(static_cast<double>(s[static_cast<size_t>(idx[j])] - mx)) / z);
    cum += pj;
    if (static_cast<float>(cum) > threshold) break;  // cumulative sums only grow: the rest is kept
    s[static_cast<size_t>(idx[j])] = kNegInf;
  }
}

size_t argmax(const std::vector<float>& s) {
  size_t best = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] > s[best]) best = i;
  }
  return best;
}

}  // namespace

void process_scores(std::vector<float>& s, std::span<const int32_t> prev_tokens, const GenerationParams& p) {
  if (s.empty()) fail(ErrorKind::kInvalidArgument, "sampler: empty logits");
  apply_repetition_penalty(s, prev_tokens, p.repetition_penalty);
  if (p.temperature <= 0.0) return;  // greedy: warpers do not apply
  if (p.temperature != 1.0) {
    const auto t = static_cast<float>(p.temperature);
    for (float& x : s) x /= t;
  }
  apply_top_k(s, p.top_k);
  apply_top_p(s, p.top_p);
}

std::vector<float> processed_scores(std::span<const float> logits, std::span<const int32_t> prev_tokens,
                                    const GenerationParams& p) {
  std::vector<float> s(logits.begin(), logits.end());
  process_scores(s, prev_tokens, p);
  return s;
}

void choice_scores(std::vector<float>& s, std::span<const int32_t> prev_tokens, const GenerationParams& p) {
  if (s.empty()) fail(ErrorKind::kInvalidArgument, "sampler: empty logits");
  if (p.greedy()) {
    apply_repetition_penalty(s, prev_tokens, p.repetition_penalty);
  } else {
    process_scores(s, prev_tokens, p);
  }
}

std::vector<float> probabilities(std::span<const float> logits, std::span<const int32_t> prev_tokens,
                                 const GenerationParams& p) {
  std::vector<float> s = processed_scores(logits, prev_tokens, p);
  if (p.temperature <= 0.0) {
    std::vector<float> one_hot(s.size(), 0.0f);
    one_hot[argmax(s)] = 1.0f;
    return one_hot;
  }
  const float mx = *std::max_element(s.begin(), s.end());
  double z = 0;
  for (float x : s) z += std::exp(static_cast<double>(x - mx));
  for (float& x : s) x = static_cast<float>(std::exp(static_cast<double>(x - mx)) / z);
  return s;
}

int32_t greedy_token(std::span<const float> logits, std::span<const int32_t> prev_tokens, const GenerationParams& p) {
  if (logits.empty()) fail(ErrorKind::kInvalidArgument, "sampler: empty logits");
  std::vector<float> s(logits.begin(), logits.end());
  apply_repetition_penalty(s, prev_tokens, p.repetition_penalty);
  return static_cast<int32_t>(argmax(s));
}

Sampler::Sampler(const GenerationParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> prev_tokens) {
  if (params_.greedy()) return greedy_token(logits, prev_tokens, params_);
  const std::vector<float> s = processed_scores(logits, prev_tokens, params_);
  return choose(s);
}

int32_t Sampler::choose(std::span<const float> scores) {
  if (scores.empty()) fail(ErrorKind::kInvalidArgument, "sampler: empty logits");
  size_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  if (params_.greedy()) return static_cast<int32_t>(best);
  // softmax as probabilities() computes it, then 53 random bits -> u in [0, 1); the first id whose
  // cumulative probability passes u.
  // -inf entries (filtered out: most of them under top-k or a grammar) add exactly 0: skipped.
  const float mx = scores[best];
  double z = 0;
  for (float x : scores)
    if (x != kNegInf) z += std::exp(static_cast<double>(x - mx));
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cum = 0;
  size_t last = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] == kNegInf) continue;
    const auto pi = static_cast<float>(std::exp(static_cast<double>(scores[i] - mx)) / z);
    if (pi <= 0) continue;
    cum += pi;
    last = i;
    if (u < cum) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(last);  // rounding left u past the total: the last possible id
}

}  // namespace dm
