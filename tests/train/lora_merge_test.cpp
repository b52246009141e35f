// convert --merge-lora: a checkpoint with W' = W + (alpha/r)·B·A gives the same next-token log-probs as
// the base model with the adapter applied in the training forward (y = Wx + (alpha/r)·B·A·x).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "devops_model/model/model.h"
#include "devops_model/train/checkpoint.h"
#include "devops_model/train/train_model.h"
#include "test_util.h"

namespace dm {
namespace {

void check_merge(const std::string& fixture, const std::vector<std::string>& targets) {
  const std::string base_dir = test::fixture(fixture);
  const std::string w = test::temp_dir("merge_lora_" + fixture);
  auto base = Model::load(base_dir);
  auto tm = TrainModel::from_model(*base);
  LoraConfig lc;
  lc.rank = 4;
  lc.alpha = 8.f;
  lc.targets = targets;
  tm->enable_lora(lc, 7);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 0.05f);
  for (Param& p : tm->lora_params())  // B = 0 after init: make it non-zero so the adapter matters
    if (p.name.find("lora_B") != std::string::npos)
      for (int64_t i = 0; i < p.numel(); ++i) p.v()[i] = nd(rng);
  std::filesystem::create_directories(w + "/adapter");
  write_lora_adapter(*tm, w + "/adapter", base_dir);
  const std::vector<int32_t> ids = {3, 17, 250, 9, 77, 400, 12, 5, 300, 41};
  const int64_t T = static_cast<int64_t>(ids.size());
  // Reference: -log p(ids[k] | ids[<k]) with the adapter, one labelled position at a time.
  std::vector<double> ref, plain;
  auto plain_tm = TrainModel::from_model(*base);
  for (int64_t k = 1; k < T; ++k) {
    std::vector<int32_t> labels(ids.size(), -100);
    labels[static_cast<size_t>(k)] = ids[static_cast<size_t>(k)];
    ref.push_back(tm->loss_only(ids.data(), labels.data(), 1, T));
    plain.push_back(plain_tm->loss_only(ids.data(), labels.data(), 1, T));
  }

  auto r = test::run_cmd(test::cli() + " convert --merge-lora --model " + base_dir + " --adapter " + w +
                         "/adapter --out " + w + "/merged");
  ASSERT_EQ(r.status, 0) << r.err;
  auto merged = Model::load(w + "/merged");
  auto cache = merged->new_cache();
  std::vector<float> logits;
  merged->forward(ids, *cache, logits, true);
  const int64_t V = merged->config().vocab_size;
  double max_diff = 0, adapter_effect = 0;
  for (int64_t k = 1; k < T; ++k) {
    const float* row = logits.data() + (k - 1) * V;
    double mx = row[0], sum = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max<double>(mx, row[v]);
    for (int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
    const double nll = -(row[ids[static_cast<size_t>(k)]] - mx - std::log(sum));
    max_diff = std::max(max_diff, std::fabs(nll - ref[static_cast<size_t>(k - 1)]));
    adapter_effect =
        std::max(adapter_effect, std::fabs(plain[static_cast<size_t>(k - 1)] - ref[static_cast<size_t>(k - 1)]));
  }
  EXPECT_GT(adapter_effect, 1e-3);  // the adapter changes the model ...
  EXPECT_LT(max_diff, 1e-4);        // ... and the merged weights reproduce it
  std::filesystem::remove_all(w);
}

TEST(MergeLora, MergedCheckpointMatchesBasePlusAdapter) {
  check_merge("tiny-qwen2", {"q_proj", "v_proj", "down_proj"});
}

// Qwen1: one adapter on the fused c_attn (shared A, B over q|k|v rows), attn.c_proj only, and w2 (gate).
TEST(MergeLora, Qwen1FusedCAttnMergesIntoQkv) { check_merge("tiny-qwen1", {"c_attn", "attn.c_proj", "w2"}); }

TEST(MergeLora, ConvertNeedsExactlyOneMode) {
  auto r = test::run_cmd(test::cli() + " convert --out /tmp/unused_dm_convert");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("exactly one of --random, --merge-lora or --to-gguf"), std::string::npos) << r.err;
  r = test::run_cmd(test::cli() + " convert --random --merge-lora --out /tmp/unused_dm_convert");
  EXPECT_NE(r.status, 0);
  r = test::run_cmd(test::cli() + " convert --merge-lora --model " + test::fixture("tiny-qwen2") +
                    " --adapter /nonexistent --out /tmp/unused_dm_convert");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("adapter_config.json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dm
