// The engine's CLI end to end on the fixtures: `logits` writes the golden logits, `generate --greedy` the
// golden tokens, `bench --json` reports its figures; the same commands with --dtype f32 and q8_0.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "devops_model/formats/safetensors.h"
#include "devops_model/model/model.h"
#include "test_util.h"

namespace dm {
namespace {

std::string join_ids(const std::vector<int32_t>& ids) {
  std::ostringstream s;
  for (size_t i = 0; i < ids.size(); ++i) s << (i ? "," : "") << ids[i];
  return s.str();
}

TEST(EngineCli, LogitsFileHoldsTheGoldenLogits) {
  for (const char* f : {"tiny-qwen1-bin", "tiny-qwen2"}) {
    const std::string golden_dir = std::string(f) == "tiny-qwen1-bin" ? "tiny-qwen1" : f;
    auto golden = SafetensorsFile::open(test::fixture(golden_dir + "/golden.safetensors"));
    const std::vector<int32_t> ids = test::golden_ids(*golden, "seq1.ids");
    const std::vector<float> want = test::golden_f32(*golden, "seq1.logits");
    const std::string out = test::temp_dir("logits_cli") + "/logits.safetensors";
    auto r = test::run_cmd(test::cli() + " logits --model " + test::fixture(f) + " --ids " + join_ids(ids) + " --out " +
                           out);
    ASSERT_EQ(r.status, 0) << r.err;
    auto file = SafetensorsFile::open(out);
    const TensorView t = file->get("logits");
    EXPECT_EQ(t.dtype, DType::kF32);
    ASSERT_EQ(t.shape.size(), 2u);
    EXPECT_EQ(t.shape[0], static_cast<int64_t>(ids.size()));
    ASSERT_EQ(static_cast<size_t>(t.numel()), want.size());
    double max_diff = 0;
    for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(t.f32()[i]) - want[i]));
    EXPECT_LE(max_diff, 1e-3) << f;
  }
}

TEST(EngineCli, LogitsTraceWritesEveryLayerValue) {
  const std::string dir = test::temp_dir("logits_trace");
  auto r = test::run_cmd(test::cli() + " logits --model " + test::fixture("tiny-qwen3") + " --ids 3,1,4,1,5 --out " +
                         dir + "/l.safetensors --trace " + dir + "/t.safetensors");
  ASSERT_EQ(r.status, 0) << r.err;
  auto trace = SafetensorsFile::open(dir + "/t.safetensors");
  auto logits = SafetensorsFile::open(dir + "/l.safetensors");
  const auto model = Model::load(test::fixture("tiny-qwen3"));
  EXPECT_EQ(trace->get("embed").shape, (Shape{5, model->config().hidden_size}));
  const std::string last = "layers." + std::to_string(model->config().num_layers - 1) + ".";
  for (const char* n : {"attn_norm", "q", "k", "v", "q_rope", "k_rope", "attn_out", "ffn_act", "layer_out"})
    EXPECT_TRUE(trace->has(last + n)) << n;
  // The traced logits are the logits written.
  const TensorView a = trace->get("logits"), b = logits->get("logits");
  ASSERT_EQ(a.shape, b.shape);
  EXPECT_EQ(0, std::memcmp(a.data, b.data, a.nbytes()));
}

TEST(EngineCli, GreedyGenerateGivesTheGoldenTokens) {
  auto golden = SafetensorsFile::open(test::fixture("tiny-qwen3/golden.safetensors"));
  const std::vector<int32_t> prompt = test::golden_ids(*golden, "greedy.prompt");
  const std::vector<int32_t> want = test::golden_ids(*golden, "greedy.output");
  for (const char* dtype : {"stored", "f32"}) {
    auto r = test::run_cmd(test::cli() + " generate --model " + test::fixture("tiny-qwen3") + " --dtype " + dtype +
                           " --ids " + join_ids(prompt) + " --max-new-tokens " + std::to_string(want.size()) +
                           " --greedy --stop 100000 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["ids"].get<std::vector<int32_t>>(), want) << dtype;
  }
  // Q8_0: the same command runs and gives as many tokens (their values may differ from bf16's).
  auto r = test::run_cmd(test::cli() + " generate --model " + test::fixture("tiny-qwen3") + " --dtype q8_0 --ids " +
                         join_ids(prompt) + " --max-new-tokens 16 --greedy --stop 100000 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["ids"].size(), 16u);
}

TEST(EngineCli, BenchJsonReportsSpeedsAndDtype) {
  auto r = test::run_cmd(test::cli() + " bench --model " + test::fixture("tiny-qwen2") +
                         " --dtype q8_0 --threads 1 --prompt-tokens 8 --decode-tokens 4 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["weights_dtype"], "Q8_0");
  EXPECT_EQ(j["prefill_tokens"], 8);
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["memory_read_bandwidth_bytes_per_s"].get<double>(), 0);
  EXPECT_GT(j["peak_rss_bytes"].get<double>(), 0);
}

TEST(EngineCli, GgufFileRunsWithNothingBesideIt) {
  // Copied alone into an empty directory: config, tokenizer and chat template all come from the file.
  const std::string dir = test::temp_dir("gguf_alone");
  for (const char* f : {"model-q8_0.gguf", "model-qwen1-f16.gguf"}) {
    const std::string type = std::string(f).substr(6, std::string(f).size() - 11);
    const std::string model = dir + "/" + f;
    std::filesystem::copy_file(test::fixture(std::string("tiny-gguf/") + f), model);
    auto golden = SafetensorsFile::open(test::fixture("tiny-gguf/golden.safetensors"));
    const std::vector<int32_t> prompt = test::golden_ids(*golden, type + ".greedy.prompt");
    const std::vector<int32_t> want = test::golden_ids(*golden, type + ".deq_oracle.greedy.output");
    auto r = test::run_cmd(test::cli() + " generate --model " + model + " --ids " + join_ids(prompt) +
                           " --max-new-tokens 4 --greedy --stop 100000 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["ids"].get<std::vector<int32_t>>(),
              std::vector<int32_t>(want.begin(), want.begin() + 4))
        << f;
    r = test::run_cmd(test::cli() + " chat --model " + model + " --prompt hello --max-new-tokens 3 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    // The ChatML prompt from the file's template: <|im_start|> ... hello ... <|im_start|>assistant
    EXPECT_EQ(j["reply_ids"].size(), 3u) << f;
    EXPECT_GT(j["prompt_ids"].size(), 5u) << f;
  }
}

TEST(EngineCli, MalformedGgufIsAFormatErrorNamingTheFile) {
  const std::string bad = test::temp_dir("gguf_bad") + "/bad.gguf";
  {
    std::ofstream out(bad, std::ios::binary);
    out.write("GGUF\x03\x00\x00\x00trunc", 13);
  }
  for (const char* cmd : {" generate --ids 1,2 --model ", " chat --prompt hi --model "}) {
    auto r = test::run_cmd(test::cli() + cmd + bad);
    EXPECT_EQ(r.status, 4) << cmd << r.err;
    EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("tensor_count"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace dm
