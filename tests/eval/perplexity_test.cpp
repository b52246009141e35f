#include "devops_model/eval/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>

#include "devops_model/core/error.h"

namespace dm {
namespace {

constexpr int kVocab = 16;
constexpr float kHit = 3.0f;

// A bigram model: logit kHit on (previous token + 1) % V, 0 elsewhere. It needs one token of context,
// so every scored token sees its predecessor whatever the windows are.
void bigram(std::span<const int32_t> w, std::vector<float>& logits) {
  logits.assign(w.size() * kVocab, 0.0f);
  for (size_t j = 0; j < w.size(); ++j) logits[j * kVocab + (w[j] + 1) % kVocab] = kHit;
}

TEST(Perplexity, EveryTokenButTheFirstScoredOnce) {
  std::vector<int32_t> ids;
  for (int i = 0; i < 37; ++i) ids.push_back(i % kVocab);  // all hits
  ids[20] = 5;                                             // one miss (after 3 comes 5), then 5 -> 6 is a hit
  ids[21] = 6;
  const double z = std::exp(kHit) + (kVocab - 1);
  const double hit = kHit - std::log(z), miss = -std::log(z);
  // Tokens 1..36: 36 scored; token 20 (5 after 3) misses, token 21 (6 after 5) hits, token 22 (6 after 6) misses.
  const double expect = -(34 * hit + 2 * miss) / 36;
  for (auto [window, stride] : {std::pair{37, 37}, {8, 3}, {5, 1}, {2, 1}, {64, 10}, {8, 7}}) {
    PerplexityResult r = perplexity(bigram, kVocab, ids, window, stride);
    EXPECT_EQ(r.tokens, 36) << window << "/" << stride;
    EXPECT_NEAR(r.mean_nll(), expect, 1e-6) << window << "/" << stride;
    EXPECT_NEAR(r.ppl(), std::exp(expect), 1e-6);
  }
  // Disjoint windows (stride == window): a window's first token has no context there and is not scored.
  PerplexityResult r = perplexity(bigram, kVocab, ids, 8, 8);
  EXPECT_EQ(r.windows, 5);
  EXPECT_EQ(r.tokens, 37 - 5);
}

TEST(Perplexity, WindowsCount) {
  std::vector<int32_t> ids(10, 1);
  EXPECT_EQ(perplexity(bigram, kVocab, ids, 4, 2).windows, 4);  // 0-4, 2-6, 4-8, 6-10
  EXPECT_EQ(perplexity(bigram, kVocab, ids, 10, 5).windows, 1);
}

TEST(Perplexity, BadArguments) {
  std::vector<int32_t> ids(10, 1);
  EXPECT_THROW(perplexity(bigram, kVocab, ids, 1, 1), Error);
  EXPECT_THROW(perplexity(bigram, kVocab, ids, 4, 5), Error);
  EXPECT_THROW(perplexity(bigram, kVocab, std::span(ids).first(1), 4, 2), Error);
}

}  // namespace
}  // namespace dm
