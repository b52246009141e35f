// Prefix reuse on the real engine (tiny fixture models): the shared k-shot prefix run once and reused
// through KVCache::truncate must give the answers and logits of a fresh full forward per question.
// Token ids here are the prompt's bytes (all < 256 < vocab), so these tests need only the engine.
#include <gtest/gtest.h>

#include <cmath>

#include "devops_model/core/progress.h"
#include "devops_model/eval/evaluator.h"
#include "devops_model/eval/model_scoring_lm.h"
#include "devops_model/eval/perplexity.h"
#include "devops_model/model/model.h"
#include "test_util.h"

namespace dm {
namespace {

const std::string kData = std::string(DM_SOURCE_DIR) + "/tests/eval/data/";

// Bytes as token ids over the real model; "A".."D" are single bytes.
class ByteModelLm : public ScoringLm {
 public:
  explicit ByteModelLm(const Model& m) : model_(m) {}
  std::vector<int32_t> encode(std::string_view t) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : t) ids.push_back(c);
    return ids;
  }
  void reserve(int tokens) override {
    if (!cache_ || cache_->capacity() < tokens) cache_ = model_.new_cache(tokens);
  }
  void run(int keep, std::span<const int32_t> ids, std::vector<float>& logits) override {
    cache_->truncate(keep);
    model_.forward(ids, *cache_, logits, false);
  }
  double ntk_alpha_for(int len) const override { return model_.ntk_alpha_for(len); }

 private:
  const Model& model_;
  std::unique_ptr<KVCache> cache_;
};

McqReport run_eval(const Model& m, bool reuse, PromptConvention conv) {
  Progress::set_quiet(true);
  ByteModelLm lm(m);
  McqEvalOptions o;
  o.style.convention = conv;
  o.shots = {0, 1};
  o.prefix_reuse = reuse;
  o.progress = false;
  return evaluate_mcq(lm, {load_mcq_dataset(kData + "cmmlu"), load_mcq_dataset(kData + "ceval")}, o);
}

void check_model(const std::string& name, bool expect_reuse_everywhere) {
  auto m = Model::load(test::fixture(name));
  for (auto conv : {PromptConvention::kDevopsEval, PromptConvention::kCmmlu}) {
    McqReport reused = run_eval(*m, true, conv), naive = run_eval(*m, false, conv);
    ASSERT_EQ(reused.questions.size(), 16u);
    ASSERT_EQ(naive.questions.size(), 16u);
    EXPECT_EQ(naive.prefix_reused, 0);
    if (expect_reuse_everywhere) {
      EXPECT_EQ(reused.prefix_reused, 16) << name;
    }
    float worst = 0;
    for (size_t i = 0; i < reused.questions.size(); ++i) {
      const auto& a = reused.questions[i];
      const auto& b = naive.questions[i];
      EXPECT_EQ(a.pred, b.pred) << name << " question " << i;
      for (int k = 0; k < 4; ++k) worst = std::max(worst, std::fabs(a.logits[k] - b.logits[k]));
    }
    EXPECT_LE(worst, 1e-4f) << name;
    EXPECT_EQ(reused.overall[0].correct, naive.overall[0].correct);
    EXPECT_EQ(reused.overall[1].correct, naive.overall[1].correct);
  }
}

TEST(EngineEval, PrefixReuseMatchesFullForwardQwen2) { check_model("tiny-qwen2", true); }
TEST(EngineEval, PrefixReuseMatchesFullForwardQwen3) { check_model("tiny-qwen3", true); }

// Qwen1: seq_length 24, so every prompt here uses dynamic NTK and logn attention; reuse happens only
// where the prefix and the full prompt share an alpha, the rest falls back to a full forward.
TEST(EngineEval, PrefixReuseMatchesFullForwardQwen1WithNtk) {
  check_model("tiny-qwen1", false);
  auto m = Model::load(test::fixture("tiny-qwen1"));
  McqReport r = run_eval(*m, true, PromptConvention::kDevopsEval);
  EXPECT_GT(r.full_forward, 0);  // some prompts cross an alpha boundary
}

// The engine's ppl over bytes: equals a direct all-positions forward over a single window.
TEST(EngineEval, PerplexityOneWindowMatchesDirectForward) {
  auto m = Model::load(test::fixture("tiny-qwen2"));
  std::vector<int32_t> ids;
  for (unsigned char c : std::string("持续集成 continuous integration, 持续交付")) ids.push_back(c);
  PerplexityResult r = perplexity(*m, ids, static_cast<int>(ids.size()), static_cast<int>(ids.size()));
  auto cache = m->new_cache(static_cast<int>(ids.size()));
  std::vector<float> logits;
  m->forward(ids, *cache, logits, true);
  const int V = m->config().vocab_size;
  double nll = 0;
  for (size_t t = 1; t < ids.size(); ++t) {
    const float* row = logits.data() + (t - 1) * V;
    double mx = row[0], s = 0;
    for (int v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(row[v]));
    for (int v = 0; v < V; ++v) s += std::exp(row[v] - mx);
    nll += std::log(s) + mx - row[ids[t]];
  }
  EXPECT_EQ(r.tokens, static_cast<int64_t>(ids.size() - 1));
  EXPECT_NEAR(r.nll_sum, nll, 1e-6 * std::fabs(nll));
  // Overlapping windows only ever add context: the sliding-window ppl is finite and positive.
  PerplexityResult s = perplexity(*m, ids, 16, 8);
  EXPECT_EQ(s.tokens, static_cast<int64_t>(ids.size() - 1));
  EXPECT_GT(s.ppl(), 1.0);
}

}  // namespace
}  // namespace dm
