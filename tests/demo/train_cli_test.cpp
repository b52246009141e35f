// The CLI path of the recipe on raw data: `tokenizer train` on text, `train --from-scratch --tokenizer`
// on raw text (pt), then `train --model` on untokenized SFT conversations; checkpoints carry the tokenizer.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace dm {
namespace {

std::vector<double> log_losses(const std::string& path) {
  std::vector<double> v;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return v;
}

TEST(TrainCli, RawTextPretrainThenSftWithTrainedTokenizer) {
  const std::string w = test::temp_dir("train_cli");
  const std::string src = DM_SOURCE_DIR;
  const std::string corpus = src + "/demo/gen/sentences.txt";
  auto r = test::run_cmd(test::cli() + " tokenizer train --corpus " + corpus + " --vocab-size 400 --out " + w + "/tok");
  ASSERT_EQ(r.status, 0) << r.err;
  auto tok = Tokenizer::from_dir(w + "/tok");
  EXPECT_EQ(tok->vocab_size(), 403);

  const nlohmann::json cfg = {{"architectures", {"Qwen2ForCausalLM"}},
                              {"model_type", "qwen2"},
                              {"hidden_size", 32},
                              {"intermediate_size", 64},
                              {"num_hidden_layers", 1},
                              {"num_attention_heads", 2},
                              {"num_key_value_heads", 1},
                              {"max_position_embeddings", 256},
                              {"vocab_size", 448},
                              {"tie_word_embeddings", true},
                              {"rms_norm_eps", 1e-6},
                              {"rope_theta", 10000.0}};
  write_file_atomic(w + "/config.json", cfg.dump());
  r = test::run_cmd(test::cli() + " train --from-scratch " + w + "/config.json --tokenizer " + w + "/tok --data " +
                    corpus + " --stage pt --cutoff_len 32 --per_device_train_batch_size 4 " +
                    "--max_steps 6 --learning_rate 0.01 --save_steps 0 --output_dir " + w + "/pt --log-json " + w +
                    "/pt.jsonl --threads 1");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::string pt = w + "/pt/checkpoint-6";
  ASSERT_TRUE(fs::exists(pt + "/tokenizer.json"));
  auto pt_losses = log_losses(w + "/pt.jsonl");
  ASSERT_EQ(pt_losses.size(), 6u);
  EXPECT_NEAR(pt_losses.front(), std::log(448.0), 0.5);  // near-uniform start over the embedding rows
  EXPECT_LT(pt_losses.back(), pt_losses.front());

  r = test::run_cmd(test::cli() + " train --model " + pt + " --data " + src + "/demo/data/sft/qa.jsonl --stage sft " +
                    "--cutoff_len 128 --per_device_train_batch_size 4 --max_steps 3 --save_steps 0 --output_dir " + w +
                    "/sft --log-json " + w + "/sft.jsonl --threads 1");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(w + "/sft/checkpoint-3/tokenizer.json"));
  for (double x : log_losses(w + "/sft.jsonl")) EXPECT_TRUE(std::isfinite(x));

  // Interrupted after step 6 but with checkpoint-2 the newest intact one: --resume auto continues from it,
  // and the JSON log holds each step once (the steps past the checkpoint are not repeated), with the same
  // losses as the uninterrupted run.
  const std::string resumable = test::cli() + " train --from-scratch " + w + "/config.json --tokenizer " + w +
                                "/tok --data " + corpus +
                                " --stage pt --cutoff_len 32 --per_device_train_batch_size 4" +
                                " --max_steps 6 --learning_rate 0.01 --save_steps 2 --output_dir " + w +
                                "/rs --log-json " + w + "/rs.jsonl --threads 1";
  r = test::run_cmd(resumable);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  fs::remove_all(w + "/rs/checkpoint-6");
  fs::resize_file(w + "/rs/checkpoint-4/model.safetensors", 64);  // damaged: falls back to checkpoint-2
  r = test::run_cmd(resumable + " --resume auto");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("resumed from " + w + "/rs/checkpoint-2 at step 2"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("checkpoint-4 cannot be resumed"), std::string::npos) << r.err;
  std::vector<int64_t> steps;
  std::ifstream log(w + "/rs.jsonl");
  for (std::string line; std::getline(log, line);) steps.push_back(nlohmann::json::parse(line).at("step"));
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(log_losses(w + "/rs.jsonl"), pt_losses);
  r = test::run_cmd(resumable + " --resume auto --seed 3");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("seed was 42, now 3"), std::string::npos) << r.err;
  std::string bad_steps = resumable;
  bad_steps.replace(bad_steps.find("--max_steps 6"), 13, "--max_steps -5");
  r = test::run_cmd(bad_steps);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("max_steps must be > 0, or -1"), std::string::npos) << r.err;

  // A tokenizer larger than the model's embedding is refused with a message.
  auto small = cfg;
  small["vocab_size"] = 256;
  write_file_atomic(w + "/small.json", small.dump());
  r = test::run_cmd(test::cli() + " train --from-scratch " + w + "/small.json --tokenizer " + w + "/tok --data " +
                    corpus + " --stage pt --max_steps 1 --output_dir " + w + "/bad");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("embedding rows"), std::string::npos) << r.err;
  fs::remove_all(w);
}

// A model whose f32 training state cannot fit this machine is refused at once with the figures and the
// ways out (it used to allocate until the kernel killed it, minutes later).
TEST(TrainCli, ModelTooLargeForMemoryIsRefusedBeforeAllocating) {
  const std::string w = test::temp_dir("train_cli_huge");
  const nlohmann::json cfg = {{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"},
                              {"hidden_size", 16384},                {"intermediate_size", 65536},
                              {"num_hidden_layers", 200},            {"num_attention_heads", 128},
                              {"num_key_value_heads", 8},            {"max_position_embeddings", 4096},
                              {"vocab_size", 151936},                {"rms_norm_eps", 1e-6}};
  write_file_atomic(w + "/huge.json", cfg.dump());
  write_file_atomic(w + "/data.jsonl", "{\"input_ids\": [1, 2, 3, 4]}\n");
  auto r = test::run_cmd(test::cli() + " train --from-scratch " + w + "/huge.json --data " + w +
                         "/data.jsonl --stage pt --max_steps 1 --output_dir " + w + "/out");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("not enough memory: full training of this 763.32B-parameter model"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("16.0 bytes a parameter"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--zero_stage 2"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(w + "/out"));
  fs::remove_all(w);
}

}  // namespace
}  // namespace dm
