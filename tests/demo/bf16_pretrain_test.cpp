// --bf16 on the demo's pretraining (bundled corpus cleaned, its BPE, the demo's model and 200 steps) against
// the fp32 run: each run's training loss (mean of the last 10 steps, as logged: bf16's under bf16 products)
// and each final model's fp32 loss on the same 64 blocks of the corpus (the model as inference runs it):
// bf16's at most 2 % above fp32's.
// Both runs' tokens/s are printed. At the demo's own settings (lr 2e-3). The demo once used 3e-3, where the
// fp32 run itself was past the stable rate (final loss 3.59 against 2.87 at 2e-3) and bf16 ended 2.4 %
// above it (AMD EPYC Zen 5); at 2e-3 and 1e-3 bf16 is within 0.1-2 % either way.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "demo/demo_impl.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/kernels/ops_backward.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/train/dataset.h"
#include "devops_model/train/train_model.h"
#include "devops_model/train/trainer.h"
#include "test_util.h"

namespace dm::demo {
namespace {

struct PretrainRun {
  double logged_loss = 0, fp32_loss = 0, seconds = 0;
};

// Mean fp32 loss of the checkpoint over the corpus's first 64 blocks (8 batches of 8).
double fp32_loss(const std::string& ckpt, const std::vector<Example>& blocks) {
  auto tm = TrainModel::from_model(*Model::load(ckpt));
  const int64_t B = 8, T = static_cast<int64_t>(blocks.at(0).ids.size());
  double sum = 0;
  for (size_t b0 = 0; b0 < 64; b0 += B) {
    std::vector<int32_t> ids, labels;
    for (size_t i = b0; i < b0 + B; ++i) {
      ids.insert(ids.end(), blocks.at(i).ids.begin(), blocks.at(i).ids.end());
      labels.insert(labels.end(), blocks.at(i).labels.begin(), blocks.at(i).labels.end());
    }
    sum += tm->loss_only(ids.data(), labels.data(), B, T);
  }
  return sum / (64 / B);
}

PretrainRun pretrain(const std::string& work, const std::string& docs, const std::string& tok,
                     const std::vector<Example>& blocks, bool bf16) {
  Ctx c{DemoOptions{}, DemoSizes::full(), work, [](std::string_view) {}};
  c.opt.data_dir = std::string(DM_SOURCE_DIR) + "/demo/data";
  c.opt.bf16 = bf16;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string ckpt = stage_pretrain(c, docs, tok);
  PretrainRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto hist = nlohmann::json::parse(read_file(ckpt + "/trainer_state.json")).at("log_history");
  EXPECT_EQ(hist.size(), static_cast<size_t>(DemoSizes::full().pt_steps));
  for (size_t i = hist.size() - 10; i < hist.size(); ++i) r.logged_loss += hist[i].at("loss").get<double>() / 10;
  r.fp32_loss = fp32_loss(ckpt, blocks);
  return r;
}

TEST(DemoBf16, PretrainingEndsWithinTwoPercentOfFp32) {
  const std::string w = test::temp_dir("demo_bf16");
  Ctx c{DemoOptions{}, DemoSizes::full(), w + "/shared", [](std::string_view) {}};
  c.opt.data_dir = std::string(DM_SOURCE_DIR) + "/demo/data";
  const std::string docs = stage_clean(c);
  const std::string tok = stage_tokenizer(c, docs);
  std::vector<Example> blocks;
  {
    auto t = Tokenizer::from_dir(tok);
    std::vector<std::vector<int32_t>> ids;
    for (const std::string& d : read_docs(docs, 0)) ids.push_back(t->encode(d, false));
    blocks = pack_pretrain(ids, t->token_id("<|endoftext|>").value_or(-1), c.sz.block, false);
  }
  ASSERT_GE(blocks.size(), 64u);
  const PretrainRun f32 = pretrain(w + "/f32", docs, tok, blocks, false);
  const PretrainRun bf16 = pretrain(w + "/bf16", docs, tok, blocks, true);
  const double tokens = 200.0 * DemoSizes::full().batch * DemoSizes::full().block;
  std::printf(
      "demo pretraining, 200 steps: fp32 logged loss %.4f, fp32 eval %.4f, %.0f tokens/s; bf16 (%s) logged loss "
      "%.4f, fp32 eval %.4f, %.0f tokens/s\n",
      f32.logged_loss, f32.fp32_loss, tokens / f32.seconds, gemm_bf16_native() ? "vdpbf16ps" : "twin",
      bf16.logged_loss, bf16.fp32_loss, tokens / bf16.seconds);
  EXPECT_LT(f32.logged_loss, 5.0);  // it learned (from ~8)
  EXPECT_LT(bf16.logged_loss, 5.0);
  // bf16 costs at most 2 % of the loss. One-sided: at this scale two runs that differ only in rounding end
  // a few percent apart either way (a change to the f32 exps of the cross-entropy alone moved the bf16 run
  // from +0.05 % to -4.4 %, the fp32 run by 0.01 %), and ending lower is no fault of bf16.
  EXPECT_LE(bf16.fp32_loss, 1.02 * f32.fp32_loss);
  EXPECT_NE(bf16.logged_loss, f32.logged_loss);  // the bf16 products did run
}

}  // namespace
}  // namespace dm::demo
