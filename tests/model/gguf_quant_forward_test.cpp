// GGUF files with ggml block-quantized weights (../shared/fixtures/tiny-gguf, made by llama-quantize) run
// through the block-type matmuls on every ISA this CPU has, against the fixture's fp32 oracle over the same
// weights dequantized by gguf-py: the weights are decoded to exactly those values, so only summation order
// separates the logits (llama.cpp itself, which quantizes the activations too, is 0.4-0.65 away).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "devops_model/model/model.h"
#include "kernels/matmul_isa.h"
#include "test_util.h"

namespace dm {
namespace {

class GgufQuantForward : public testing::TestWithParam<const char*> {};

TEST_P(GgufQuantForward, LogitsMatchTheOracleOnTheDequantizedWeights) {
  const std::string t = GetParam();
  auto model = Model::load(test::fixture("tiny-gguf/model-" + t + ".gguf"));
  auto golden = SafetensorsFile::open(test::fixture("tiny-gguf/golden.safetensors"));
  const int64_t V = model->config().vocab_size;
  const Isa saved = active_isa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(best_isa())) continue;
    set_active_isa(isa);
    double max_diff = 0;
    for (int s = 0; s < 3; ++s) {  // 1, 7 and 40 tokens: decode (T=1) and prefill tiles
      const std::string p = t + ".seq" + std::to_string(s);
      const std::vector<int32_t> ids = test::golden_ids(*golden, p + ".ids");
      const std::vector<float> want = test::golden_f32(*golden, t + ".deq_oracle.seq" + std::to_string(s) + ".logits");
      auto cache = model->new_cache();
      std::vector<float> got;
      model->forward(ids, *cache, got, true);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(got[i]) - want[i]));
      // Token by token through the KV cache: every matmul at T=1.
      auto step_cache = model->new_cache();
      std::vector<float> step;
      for (size_t i = 0; i < std::min<size_t>(ids.size(), 8); ++i) {
        model->forward(std::span<const int32_t>(&ids[i], 1), *step_cache, step);
        for (int64_t v = 0; v < V; ++v)
          max_diff = std::max(max_diff, std::fabs(double(step[static_cast<size_t>(v)]) - want[i * V + v]));
      }
    }
    std::printf("%s %s: max |logit - oracle| %.2e\n", t.c_str(), isa_name(isa), max_diff);
    EXPECT_LT(max_diff, 1e-3) << t << " " << isa_name(isa);  // seen: 2-4e-5; the logits' std is 4.0
  }
  set_active_isa(saved);
}

INSTANTIATE_TEST_SUITE_P(Files, GgufQuantForward,
                         testing::Values("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m",
                                         "q6_k"),
                         [](const auto& i) { return std::string(i.param); });

}  // namespace
}  // namespace dm
