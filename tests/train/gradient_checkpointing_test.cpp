// Gradient checkpointing recomputes each layer in the backward: the loss and every gradient equal those of
// the run that kept all activations (within 1e-6 relative; the kernels are deterministic, so in practice
// bit for bit), LoRA dropout masks included, while the kept activations shrink to the layer inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "devops_model/model/model.h"
#include "devops_model/train/train_model.h"
#include "test_util.h"

namespace dm {
namespace {

struct Batch {
  std::vector<int32_t> ids, labels;
  int64_t B = 3, T = 17;
};

Batch batch(int64_t vocab) {
  Batch b;
  for (int64_t i = 0; i < b.B * b.T; ++i) {
    b.ids.push_back(static_cast<int32_t>((i * 37 + 11) % vocab));
    b.labels.push_back(i % 5 == 0 ? -100 : b.ids.back());
  }
  return b;
}

struct Grads {
  double loss = 0;
  std::vector<std::vector<float>> g;
  int64_t kept = 0;
  int64_t layers = 0, input_bytes = 0;  // one layer input: B*T*C floats
};

Grads run(const std::string& fixture, bool checkpointing, bool lora) {
  auto m = TrainModel::from_model(*Model::load(test::fixture(fixture)));
  if (lora) {
    LoraConfig cfg;
    cfg.rank = 4, cfg.dropout = 0.25f, cfg.targets = {"all"};
    m->enable_lora(cfg, 7);
    for (Param& p : m->lora_params())  // B = 0 at init would hide the adapters' part of the gradient
      for (int64_t k = 0; k < p.numel(); ++k) p.v()[k] = 0.01f * static_cast<float>((k * 13) % 7 - 3);
  }
  m->set_gradient_checkpointing(checkpointing);
  const Batch b = batch(m->config().vocab_size);
  m->zero_grad();
  m->set_dropout_seed(99);
  Grads out;
  out.loss = m->forward_backward(b.ids.data(), b.labels.data(), b.B, b.T, 0.5f);
  for (Param* p : m->trainable()) out.g.emplace_back(p->g(), p->g() + p->numel());
  out.kept = m->kept_activation_bytes();
  out.layers = m->config().num_layers;
  out.input_bytes = b.B * b.T * m->config().hidden_size * static_cast<int64_t>(sizeof(float));
  return out;
}

void expect_same(const Grads& a, const Grads& b) {
  EXPECT_EQ(a.loss, b.loss);
  ASSERT_EQ(a.g.size(), b.g.size());
  for (size_t i = 0; i < a.g.size(); ++i) {
    double diff = 0, scale = 0;
    for (size_t k = 0; k < a.g[i].size(); ++k) {
      diff = std::max(diff, std::abs(static_cast<double>(a.g[i][k]) - b.g[i][k]));
      scale = std::max(scale, std::abs(static_cast<double>(b.g[i][k])));
    }
    EXPECT_LE(diff, 1e-6 * scale) << "param " << i;
  }
}

TEST(GradientCheckpointing, SameGradientsLessKeptMemory) {
  // Qwen2 (q/k/v bias), Qwen3 (q/k norms), Qwen1 (fused q/k/v): full fine-tuning and LoRA with dropout.
  for (const char* fixture : {"tiny-qwen2-train", "tiny-qwen3", "tiny-qwen1"}) {
    for (const bool lora : {false, true}) {
      SCOPED_TRACE(std::string(fixture) + (lora ? " lora" : " full"));
      const Grads kept = run(fixture, false, lora), recomputed = run(fixture, true, lora);
      expect_same(recomputed, kept);
      // One layer's activations (the recomputed one) plus every layer's input, instead of every layer's.
      EXPECT_LE(recomputed.kept, kept.kept / kept.layers + kept.layers * kept.input_bytes);
      EXPECT_LT(recomputed.kept, kept.kept);
    }
  }
}

}  // namespace
}  // namespace dm
