// QLoRA: LoRA over a base that stays quantized (and frozen) in memory. Its loss and adapter gradients equal
// those of f32 LoRA over the same base dequantized (dequantize_row's values) within f32 rounding, on every
// ISA (training keeps its activations f32 where inference would round them to 8 bits); the base's matrices
// are never copied; full fine-tuning over it is refused.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "devops_model/core/error.h"
#include "devops_model/kernels/matmul.h"
#include "kernels/matmul_isa.h"
#include "devops_model/model/model.h"
#include "devops_model/train/train_model.h"
#include "test_util.h"

namespace dm {
namespace {

struct Result {
  double loss = 0;
  std::vector<std::vector<float>> grads;
};

std::shared_ptr<Model> quantized_base(DType t) {
  LoadOptions o;
  o.weights = LoadOptions::WeightDType::kQuantize;
  o.quantize_to = t;
  return Model::load(test::fixture("tiny-qwen2-train"), o);
}

Result lora_step(TrainModel& m) {
  LoraConfig cfg;
  cfg.rank = 4, cfg.targets = {"all"};
  m.enable_lora(cfg, 11);
  for (Param& p : m.lora_params())  // nonzero B, so every adapter matrix gets a gradient
    for (int64_t k = 0; k < p.numel(); ++k) p.v()[k] = 0.02f * static_cast<float>((k * 7) % 9 - 4);
  const int64_t B = 2, T = 24, V = m.config().vocab_size;
  std::vector<int32_t> ids, labels;
  for (int64_t i = 0; i < B * T; ++i) ids.push_back(static_cast<int32_t>((i * 53 + 5) % V));
  labels = ids;
  m.zero_grad();
  Result r;
  r.loss = m.forward_backward(ids.data(), labels.data(), B, T);
  for (Param* p : m.trainable()) r.grads.emplace_back(p->g(), p->g() + p->numel());
  return r;
}

// Largest |a - b| over a parameter's gradient, relative to its largest |b|.
double worst_relative(const Result& a, const Result& b) {
  double worst = 0;
  for (size_t i = 0; i < b.grads.size(); ++i) {
    double d = 0, s = 0;
    for (size_t k = 0; k < b.grads[i].size(); ++k) {
      d = std::max(d, std::abs(static_cast<double>(a.grads[i][k]) - b.grads[i][k]));
      s = std::max(s, std::abs(static_cast<double>(b.grads[i][k])));
    }
    worst = std::max(worst, d / std::max(s, 1e-12));
  }
  return worst;
}

TEST(QLora, AdapterGradientsEqualLoraOverTheDequantizedBase) {
  const Isa best = best_isa();
  // Two block types, and the fixture's own f32 kept as views (no copy).
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kF32}) {
    SCOPED_TRACE(dtype_name(t));
    std::shared_ptr<Model> q =
        t == DType::kF32 ? std::shared_ptr<Model>(Model::load(test::fixture("tiny-qwen2-train"))) : quantized_base(t);
    auto reference = TrainModel::from_model(*q);  // f32 copies of the dequantized weights
    const Result want = lora_step(*reference);
    // The AVX-512 (or lower) f32 kernels, then the CPU's best, whose integer path training must not take.
    for (Isa isa : {std::min(best, Isa::kAvx512), best}) {
      SCOPED_TRACE(isa_name(isa));
      set_active_isa(isa);
      auto frozen = TrainModel::over_frozen_base(q);
      EXPECT_TRUE(frozen->frozen_base());
      EXPECT_EQ(frozen->weights().layers[0].proj(Proj::kQ).dtype, t);  // the matrices stay in their dtype
      EXPECT_EQ(frozen->weights().layers[0].proj(Proj::kQ).data, q->weights().layers[0].proj(Proj::kQ).data);
      const Result got = lora_step(*frozen);
      // f32 rounding only (another summation order); 8-bit activations would be off by some 5e-2.
      EXPECT_NEAR(got.loss, want.loss, 1e-5);
      EXPECT_LE(worst_relative(got, want), 1e-4);
    }
    set_active_isa(best);
  }
}

TEST(QLora, FullFineTuningOverAFrozenBaseIsRefused) {
  auto m = TrainModel::over_frozen_base(quantized_base(DType::kQ8_0));
  std::vector<int32_t> ids(8, 3);
  try {
    m->forward_backward(ids.data(), ids.data(), 1, 8);
    FAIL() << "trained a frozen base";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("only LoRA adapters train"), std::string::npos) << e.what();
  }
}

// The CLI: --dtype q8_0 (or LLaMA-Factory's quantization_bit: 8) trains an adapter over the quantized base and
// writes a PEFT checkpoint; a quantized base without LoRA, or an unknown bit width, is refused (exit 2).
TEST(QLora, CliTrainsAnAdapterOverAQuantizedBase) {
  const std::string dir = test::temp_dir("qlora_cli");
  const std::string data = dir + "/data.jsonl";
  {
    std::ofstream out(data);
    for (int i = 0; i < 6; ++i) out << "{\"input_ids\": [" << i + 1 << ", 7, 9, 11, 13, 17, 19, 23]}\n";
  }
  const std::string base = test::cli() + " train --model " + test::fixture("tiny-qwen2-train") + " --data " + data +
                           " --max_steps 2 --save_steps 0 --threads 1 --output_dir " + dir;
  auto r = test::run_cmd(base + "/a --finetuning_type lora --quantization_bit 8");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/a/checkpoint-2/adapter_model.safetensors"));
  r = test::run_cmd(base + "/b --dtype q8_0");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("needs --model and --finetuning_type lora"), std::string::npos) << r.err;
  r = test::run_cmd(base + "/c --finetuning_type lora --quantization_bit 3");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("quantization_bit must be 8 (q8_0) or 4 (q4_k), got 3"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dm
