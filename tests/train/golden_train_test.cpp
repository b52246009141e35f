// Training against the PyTorch goldens of tiny-qwen2-train: step-1 gradients of every parameter, 5 full
// AdamW steps (losses, grad norms, final parameters), LoRA step-1 gradients and 3 LoRA losses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/model/model.h"
#include "devops_model/train/optimizer.h"
#include "devops_model/train/train_model.h"
#include "test_util.h"

namespace dm {
namespace {

double rel_err(const float* a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

class TrainGolden : public testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = test::fixture("tiny-qwen2-train");
    model_ = Model::load(dir);
    golden_ = SafetensorsFile::open(dir + "/golden.safetensors");
    std::ifstream f(dir + "/train_hparams.json");
    hp_ = nlohmann::json::parse(f);
    ids_ = test::golden_ids(*golden_, "input_ids");
    labels_ = test::golden_ids(*golden_, "labels");
    B_ = hp_["batch"][0].get<int>(), T_ = hp_["batch"][1].get<int>();
    ASSERT_EQ(ids_.size(), size_t(B_ * T_));
  }
  AdamWConfig adam() const {
    const auto& a = hp_["adamw"];
    return AdamWConfig{a["lr"].get<double>(), a["b1"].get<double>(), a["b2"].get<double>(), a["eps"].get<double>(),
                       a["wd"].get<double>()};
  }
  std::unique_ptr<Model> model_;
  std::shared_ptr<SafetensorsFile> golden_;
  nlohmann::json hp_;
  std::vector<int32_t> ids_, labels_;
  int B_ = 0, T_ = 0;
};

TEST_F(TrainGolden, Step1GradientsOfEveryParameter) {
  auto tm = TrainModel::from_model(*model_);
  tm->zero_grad();
  tm->forward_backward(ids_.data(), labels_.data(), B_, T_);
  int checked = 0;
  for (Param& p : tm->base_params()) {
    std::vector<float> want = test::golden_f32(*golden_, "grad." + p.name);
    ASSERT_EQ(want.size(), size_t(p.numel())) << p.name;
    EXPECT_LE(rel_err(p.g(), want), 1e-3) << p.name;
    ++checked;
  }
  EXPECT_EQ(checked, 2 + 12 * 2);  // embed, final norm, 12 tensors per layer (tied head)
}

TEST_F(TrainGolden, FiveFullAdamWStepsLossesNormsAndFinalParams) {
  auto tm = TrainModel::from_model(*model_);
  AdamW opt(adam());
  std::vector<float> losses = test::golden_f32(*golden_, "full.losses");
  std::vector<float> norms = test::golden_f32(*golden_, "full.grad_norms");
  ASSERT_EQ(losses.size(), size_t(hp_["full_steps"].get<int>()));
  for (size_t s = 0; s < losses.size(); ++s) {
    tm->zero_grad();
    double loss = tm->forward_backward(ids_.data(), labels_.data(), B_, T_);
    EXPECT_NEAR(loss, losses[s], 1e-4) << "step " << s;
    double norm = clip_grad_norm(tm->trainable(), hp_["grad_clip_global_norm"].get<double>());
    EXPECT_NEAR(norm, norms[s], 1e-4 * std::max(1.0, double(norms[s]))) << "step " << s;
    opt.step(tm->trainable(), adam().lr);
  }
  double worst = 0;
  for (Param& p : tm->base_params()) {
    std::vector<float> want = test::golden_f32(*golden_, "final." + p.name);
    // Adam divides by sqrt(v): tensors whose gradients are tiny (k bias) amplify f32 rounding, so the
    // parameter tolerance is the gradient one; most tensors agree to ~1e-6.
    EXPECT_LE(rel_err(p.v(), want), 1e-3) << p.name;
    worst = std::max(worst, rel_err(p.v(), want));
  }
  RecordProperty("worst_final_rel_err", std::to_string(worst));
}

TEST_F(TrainGolden, LoraGradientsAndThreeLosses) {
  auto tm = TrainModel::from_model(*model_);
  const auto& l = hp_["lora"];
  LoraConfig cfg{l["r"].get<int>(),
                 l["alpha"].get<float>(),
                 l["dropout"].get<float>(),
                 l["targets"].get<std::vector<std::string>>(),
                 {}};
  tm->enable_lora(cfg, 1);
  ASSERT_EQ(tm->lora_params().size(), size_t(2 * 7 * 2));
  for (Param& p : tm->lora_params()) {
    std::vector<float> init = test::golden_f32(*golden_, "lora." + p.name);
    ASSERT_EQ(init.size(), size_t(p.numel())) << p.name;
    std::copy(init.begin(), init.end(), p.v());
  }
  std::vector<float> base_before(tm->base_params()[3].v(), tm->base_params()[3].v() + tm->base_params()[3].numel());
  std::vector<float> losses = test::golden_f32(*golden_, "lora.losses");
  AdamW opt(adam());
  for (size_t s = 0; s < losses.size(); ++s) {
    tm->zero_grad();
    double loss = tm->forward_backward(ids_.data(), labels_.data(), B_, T_);
    EXPECT_NEAR(loss, losses[s], 1e-4) << "lora step " << s;
    if (s == 0) {
      for (Param& p : tm->lora_params())
        EXPECT_LE(rel_err(p.g(), test::golden_f32(*golden_, "lora_grad." + p.name)), 1e-3) << p.name;
    }
    clip_grad_norm(tm->trainable(), hp_["grad_clip_global_norm"].get<double>());
    opt.step(tm->trainable(), adam().lr);
  }
  // The base stays frozen.
  EXPECT_EQ(0, std::memcmp(base_before.data(), tm->base_params()[3].v(), base_before.size() * sizeof(float)));
}

}  // namespace
}  // namespace dm
