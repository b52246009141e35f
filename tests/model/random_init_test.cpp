// Random checkpoints of real shapes: parameter counts equal the published ones (QWEN_SPEC.md), and a
// written checkpoint loads, is deterministic per seed and runs.
#include "devops_model/model/random_init.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "test_util.h"

namespace dm {
namespace {

int64_t params(const ModelConfig& c) {
  int64_t n = 0;
  for (const auto& s : checkpoint_tensor_specs(c)) n += shape_numel(s.shape);
  return n;
}

TEST(ShapePresets, ParameterCountsMatchTheReleasedModels) {
  EXPECT_EQ(params(shape_preset("qwen-7b")), 7'721'324'544);  // = index total_size / 2 (spec A.2, verified)
  EXPECT_EQ(params(shape_preset("qwen-14b")), 14'167'290'880);
  EXPECT_EQ(params(shape_preset("qwen2.5-0.5b")), 494'032'768);
  EXPECT_EQ(params(shape_preset("qwen2.5-1.5b")), 1'543'714'304);
  // QWEN_SPEC.md D.2 says 7,615,624,704; the layer arithmetic (and the checkpoint's total_size
  // 15,231,233,024 bytes in bf16) gives 8192 fewer.
  EXPECT_EQ(params(shape_preset("qwen2.5-7b")), 7'615'616'512);
  EXPECT_EQ(params(shape_preset("qwen3-0.6b")), 596'049'920);
  EXPECT_THROW(shape_preset("llama-70b"), Error);
}

TEST(RandomCheckpoint, WritesLoadableDeterministicCheckpoints) {
  ModelConfig c = shape_preset("qwen-7b");  // Qwen1 layout (fused c_attn), shrunk
  c.hidden_size = 64;
  c.num_heads = c.num_kv_heads = 4;
  c.head_dim = c.rotary_dim = 16;
  c.num_layers = 2;
  c.intermediate_size = 96;
  c.vocab_size = 300;
  c.eos_token_ids = {299};  // config.json ids must be rows of the shrunk vocabulary
  c.seq_length = 32;
  const std::string a = test::temp_dir("rand_a"), b = test::temp_dir("rand_b");
  write_random_checkpoint(c, a, DType::kBF16, 7);
  write_random_checkpoint(c, b, DType::kBF16, 7);
  EXPECT_EQ(read_file(a + "/model.safetensors"), read_file(b + "/model.safetensors"));
  auto m = Model::load(a);
  EXPECT_EQ(m->config().architecture, "QWenLMHeadModel");
  EXPECT_EQ(m->config().intermediate_size, 96);
  auto cache = m->new_cache();
  std::vector<float> logits;
  std::vector<int32_t> ids = {1, 2, 3};
  m->forward(ids, *cache, logits);
  ASSERT_EQ(logits.size(), 300u);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

}  // namespace
}  // namespace dm
