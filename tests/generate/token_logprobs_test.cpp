// token_logprob (log-softmax, top entries, -inf never listed), and the sampler's split into
// choice_scores + choose, which the scheduler uses to mask and report logprobs: the same tokens as sample().
#include "devops_model/generate/token_logprobs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>

#include "devops_model/core/error.h"
#include "devops_model/generate/sampler.h"

namespace dm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

TEST(TokenLogprob, LogSoftmaxAndTopEntries) {
  const std::vector<float> s = {1.0f, 3.0f, kNegInf, 3.0f, 0.5f, kNegInf};
  double z = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(0.5);
  TokenLogprob lp = token_logprob(s, 4, 20);
  EXPECT_EQ(lp.id, 4);
  EXPECT_NEAR(lp.logprob, 0.5 - std::log(z), 1e-6);
  ASSERT_EQ(lp.top.size(), 4u);  // the -inf entries are never listed
  EXPECT_EQ(lp.top[0].first, 1);  // ties: lower id first
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 0);
  EXPECT_EQ(lp.top[3].first, 4);
  EXPECT_NEAR(lp.top[0].second, 3.0 - std::log(z), 1e-6);
  double mass = 0;
  for (const auto& [id, v] : lp.top) mass += std::exp(v);
  EXPECT_NEAR(mass, 1.0, 1e-6);
  EXPECT_EQ(token_logprob(s, 4, 2).top.size(), 2u);
  EXPECT_TRUE(token_logprob(s, 4, 0).top.empty());
  EXPECT_THROW(token_logprob(s, 6, 1), Error);
  EXPECT_THROW(token_logprob(std::vector<float>{kNegInf, kNegInf}, 0, 1), Error);
}

TEST(TokenLogprob, TopKKeepsTiesAtTheKthValue) {
  GenerationParams p;
  p.do_sample = true;
  p.temperature = 1.0;
  p.top_p = 1.0;
  p.top_k = 3;
  const std::vector<float> s = {1, 5, 5, 2, 5, 5, 0, 4};
  std::vector<float> out = processed_scores(s, {}, p);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(out[i] == kNegInf, s[i] != 5) << i;
  p.top_k = 6;  // the 6th largest is 2: 1 and 0 go
  out = processed_scores(s, {}, p);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(out[i] == kNegInf, s[i] < 2) << i;
  p.top_k = 300;  // the nth_element path, past the heap's range
  std::vector<float> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>((i * 7919) % 1000);
  out = processed_scores(big, {}, p);
  EXPECT_EQ(std::count_if(out.begin(), out.end(), [](float x) { return x != kNegInf; }), 300);
}

TEST(TokenLogprob, ChooseFromChoiceScoresIsSample) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<int32_t> prev = {3, 9, 9, 40};
  for (const auto& [sample, top_k, top_p, temperature] :
       {std::tuple{false, 0, 1.0, 1.0}, std::tuple{true, 0, 1.0, 0.7}, std::tuple{true, 20, 0.8, 0.7},
        std::tuple{true, 5, 1.0, 1.3}}) {
    GenerationParams p;
    p.do_sample = sample;
    p.top_k = top_k;
    p.top_p = top_p;
    p.temperature = temperature;
    p.repetition_penalty = 1.1;
    p.seed = 17;
    Sampler a(p), b(p);
    for (int step = 0; step < 50; ++step) {
      std::vector<float> logits(500);
      for (float& x : logits) x = normal(rng);
      std::vector<float> scores = logits;
      choice_scores(scores, prev, p);
      const int32_t id = b.choose(scores);
      EXPECT_EQ(a.sample(logits, prev), id);
      // Greedy: the choice is the top-1 of the reported distribution.
      if (!sample) {
        EXPECT_EQ(token_logprob(scores, id, 1).top[0].first, id);
      }
    }
  }
}

}  // namespace
}  // namespace dm
