// Sampling distributions against ../shared/fixtures/sampler (HF generate() semantics).
#include "devops_model/generate/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "test_util.h"

namespace dm {
namespace {
using nlohmann::json;
const std::string kFix = DM_FIXTURES_DIR;

GenerationParams params_of(const json& c) {
  GenerationParams p;
  p.do_sample = true;
  p.repetition_penalty = c["repetition_penalty"];
  p.temperature = c["temperature"];
  p.top_k = c["top_k"];
  p.top_p = c["top_p"];
  return p;
}

TEST(Sampler, GoldenDistributions) {
  const json cases = json::parse(read_file(kFix + "/sampler/cases.json"));
  const auto st = SafetensorsFile::open(kFix + "/sampler/golden.safetensors");
  ASSERT_GE(cases.size(), 6u);
  for (const auto& c : cases) {
    const std::string name = "case" + std::to_string(c["case"].get<int>());
    const auto logits = test::golden_f32(*st, name + ".logits");
    const auto prev = test::golden_ids(*st, name + ".prev_tokens");
    const auto want = test::golden_f32(*st, name + ".probs");
    const auto got = probabilities(logits, prev, params_of(c));
    ASSERT_EQ(got.size(), want.size());
    size_t kept = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-5) << name << " token " << i;
      kept += want[i] > 0;
    }
    // The filters must remove exactly what HF removes (zeros in the same places).
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i] == 0.0f, want[i] == 0.0f) << name << " token " << i;
    std::printf("%s: %zu tokens kept\n", name.c_str(), kept);
  }
}

TEST(Sampler, SameSeedSameChoicesAndMatchesDistribution) {
  const auto st = SafetensorsFile::open(kFix + "/sampler/golden.safetensors");
  const json cases = json::parse(read_file(kFix + "/sampler/cases.json"));
  const json& c = cases[0];  // no filtering: 64 live tokens
  const auto logits = test::golden_f32(*st, "case0.logits");
  const auto prev = test::golden_ids(*st, "case0.prev_tokens");
  const auto want = test::golden_f32(*st, "case0.probs");
  GenerationParams p = params_of(c);
  p.seed = 1234;
  Sampler a(p), b(p);
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const int32_t x = a.sample(logits, prev);
    ASSERT_EQ(x, b.sample(logits, prev));
    ASSERT_GT(want[static_cast<size_t>(x)], 0.0f) << "sampled a filtered token";
    ++counts[x];
  }
  for (auto [id, k] : counts) {
    const double f = static_cast<double>(k) / n, pw = want[static_cast<size_t>(id)];
    EXPECT_NEAR(f, pw, 5 * std::sqrt(pw * (1 - pw) / n) + 1e-3) << "token " << id;
  }
  p.seed = 99;
  Sampler other(p);
  int differ = 0;
  for (int i = 0; i < 50; ++i) differ += other.sample(logits, prev) != a.sample(logits, prev);
  EXPECT_GT(differ, 0);
}

TEST(Sampler, GreedyIsArgmaxAfterPenaltyFirstWins) {
  GenerationParams p;
  p.do_sample = false;
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, -2.0f};
  EXPECT_EQ(Sampler(p).sample(logits, {}), 1);  // tie: lowest id
  p.repetition_penalty = 2.0;
  const std::vector<int32_t> prev = {1, 1};
  EXPECT_EQ(greedy_token(logits, prev, p), 2);  // 3/2 < 3
  p.do_sample = true;
  p.temperature = 0.0;  // temperature 0 is greedy too
  EXPECT_EQ(Sampler(p).sample(logits, prev), 2);
  const auto probs = probabilities(logits, prev, p);
  EXPECT_EQ(probs[2], 1.0f);
}

TEST(Sampler, PenaltyMultipliesNegativeDividesPositive) {
  GenerationParams p;
  p.repetition_penalty = 2.0;
  p.top_p = 1.0;
  const std::vector<float> logits = {2.0f, -2.0f, 0.5f};
  const std::vector<int32_t> prev = {0, 1, 0};
  const auto s = processed_scores(logits, prev, p);
  EXPECT_FLOAT_EQ(s[0], 1.0f);
  EXPECT_FLOAT_EQ(s[1], -4.0f);
  EXPECT_FLOAT_EQ(s[2], 0.5f);
}

TEST(GenerationParams, LoadsQwen1AndQwen2Configs) {
  const auto q1 = generation_params_from_dir(kFix + "/tiny-qwen1");
  EXPECT_TRUE(q1.do_sample);
  EXPECT_EQ(q1.eos_token_ids, std::vector<int32_t>{507});
  EXPECT_EQ(q1.stop_words_ids.size(), 2u);
  EXPECT_EQ(q1.max_window_size, 64);
  EXPECT_EQ(q1.max_new_tokens, 16);
  EXPECT_DOUBLE_EQ(q1.top_p, 0.8);
  EXPECT_DOUBLE_EQ(q1.repetition_penalty, 1.1);
  EXPECT_EQ(q1.top_k, 0);
  const auto q2 = generation_params_from_dir(kFix + "/tiny-qwen2");
  EXPECT_EQ(q2.eos_token_ids, (std::vector<int32_t>{509, 507}));
  EXPECT_DOUBLE_EQ(q2.temperature, 0.7);
  EXPECT_EQ(q2.top_k, 20);
  EXPECT_EQ(q2.max_window_size, 6144);  // absent: spec default
  EXPECT_THROW(parse_generation_params("{\"top_p\": \"x\"}", "g.json"), Error);
  EXPECT_THROW(parse_generation_params("{\"top_p\": 0}", "g.json"), Error);
}

}  // namespace
}  // namespace dm
