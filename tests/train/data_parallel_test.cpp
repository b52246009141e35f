// Data-parallel training under `mpirun -np 2` (1 thread per rank): full fine-tuning, LoRA and QLoRA at ZeRO stages
// 0, 1 and 2 follow the one-process run with the same global batch (losses within 1e-5, weights within 1e-5
// relative); checkpoints resume across rank counts; a killed rank ends the job within seconds and the job
// resumes bit-identically; an error on one rank ends every rank with its exit code.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/train/data_parallel.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace dm {
namespace {

TEST(DataParallelPieces, CoverEveryElementOnceInRankOrder) {
  for (int64_t n : {0, 1, 5, 7, 64, 1001})
    for (int parts : {1, 2, 3, 8}) {
      const std::vector<int64_t> c = piece_counts(n, parts);
      ASSERT_EQ(c.size(), static_cast<size_t>(parts));
      int64_t total = 0;
      for (int r = 0; r < parts; ++r) {
        EXPECT_EQ(piece_offset(c, r), total);
        EXPECT_LE(c[static_cast<size_t>(r)], n / parts + 1);  // balanced
        total += c[static_cast<size_t>(r)];
      }
      EXPECT_EQ(total, n);
    }
}

TEST(DataParallelPieces, ParamsBelongToTheirDecoderLayer) {
  EXPECT_EQ(layer_of_param("model.layers.0.self_attn.q_proj.weight"), 0);
  EXPECT_EQ(layer_of_param("model.layers.17.mlp.down_proj.lora_B.weight"), 17);
  EXPECT_EQ(layer_of_param("model.embed_tokens.weight"), -1);
  EXPECT_EQ(layer_of_param("model.norm.weight"), -1);
  EXPECT_EQ(layer_of_param("model.layers.x.weight"), -1);
}

bool have_mpirun() { return test::run_cmd("command -v mpirun >/dev/null").status == 0; }

std::string mpirun(int ranks) {
  return "mpirun -np " + std::to_string(ranks) + " --oversubscribe --allow-run-as-root ";
}

// Ragged pre-tokenized sequences (padding inside micro-batches), 24 of them.
std::string write_data(const std::string& dir) {
  const std::string path = dir + "/data.jsonl";
  std::ofstream out(path);
  for (int i = 0; i < 24; ++i) {
    nlohmann::json ids = nlohmann::json::array();
    for (int t = 0; t < 10 + (i * 7) % 9; ++t) ids.push_back((i * 31 + t * 7) % 500);
    out << nlohmann::json{{"input_ids", ids}}.dump() << "\n";
  }
  return path;
}

// A train command: global batch = 2 sequences x `accum` micro-batches x ranks.
std::string train_cmd(const std::string& data, const std::string& out, int accum, const std::string& extra,
                      int steps = 5) {
  return test::cli() + " train --model " + test::fixture("tiny-qwen2-train") + " --data " + data +
         " --per_device_train_batch_size 2 --gradient_accumulation_steps " + std::to_string(accum) +
         " --max_steps " + std::to_string(steps) + " --learning_rate 1e-3 --weight_decay 0.1 --lr_scheduler_type cosine --warmup_ratio 0.2" +
         " --threads 1 --output_dir " + out + " --log-json " + out + ".jsonl " + extra;
}

std::vector<double> losses(const std::string& log) {
  std::vector<double> v;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return v;
}

// Every tensor of the checkpoint's weights (the adapter for LoRA) within `rel` of the reference's, in the
// L2 norm relative to the reference tensor's (0: bit for bit).
void expect_same_weights(const std::string& ckpt, const std::string& ref, double rel) {
  const std::string file = fs::exists(ref + "/adapter_model.safetensors") ? "/adapter_model.safetensors"
                                                                           : "/model.safetensors";
  auto a = SafetensorsFile::open(ckpt + file);
  auto b = SafetensorsFile::open(ref + file);
  ASSERT_EQ(a->names().size(), b->names().size());
  for (const std::string& name : b->names()) {
    // The k bias's gradient is zero in exact arithmetic (softmax ignores a shift shared by all keys), so
    // AdamW steps it by the sign of rounding noise in any implementation: not part of the trajectory.
    if (name.find("k_proj.bias") != std::string::npos && rel > 0) continue;
    const std::vector<float> x = a->get(name).to_f32(), y = b->get(name).to_f32();
    ASSERT_EQ(x.size(), y.size()) << name;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      diff += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
      scale += static_cast<double>(y[i]) * y[i];
    }
    EXPECT_LE(std::sqrt(diff), rel * std::max(std::sqrt(scale), 1e-6)) << ckpt << " " << name;
  }
}

void expect_same_losses(const std::string& log, const std::string& ref_log) {
  const std::vector<double> a = losses(log), b = losses(ref_log);
  ASSERT_EQ(a.size(), 5u) << log;
  ASSERT_EQ(b.size(), 5u) << ref_log;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << log << " step " << i + 1;
}

class DistributedTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
    dir_ = test::temp_dir("dp_train");
    data_ = write_data(dir_);
  }
  std::string dir_, data_;
};

TEST_F(DistributedTrain, TwoRanksFollowOneProcessAtEveryZeroStage) {
  // Full fine-tuning, LoRA, and QLoRA (the base quantized to Q8_0 at load and frozen).
  for (const std::string ft : {"full", "lora", "qlora"}) {
    std::string lora = ft == "full" ? "" : " --finetuning_type lora --lora_rank 4 --lora_target all";
    if (ft == "qlora") lora += " --dtype q8_0";
    const std::string ref = dir_ + "/one_" + ft;
    auto r = test::run_cmd(train_cmd(data_, ref, 4, "--save_steps 0" + lora));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    for (int stage : {0, 1, 2}) {
      const std::string out = dir_ + "/two_" + ft + std::to_string(stage);
      r = test::run_cmd(mpirun(2) + train_cmd(data_, out, 2, "--save_steps 0 --zero_stage " + std::to_string(stage) + lora));
      ASSERT_EQ(r.status, 0) << r.out << r.err;
      EXPECT_NE(r.out.find("data parallel: 2 rank(s), zero stage " + std::to_string(stage)), std::string::npos) << r.out;
      expect_same_losses(out + ".jsonl", ref + ".jsonl");
      expect_same_weights(out + "/checkpoint-5", ref + "/checkpoint-5", 1e-5);
    }
  }
}

TEST_F(DistributedTrain, CheckpointsResumeWithAnotherRankCount) {
  const std::string ref = dir_ + "/ref";
  auto r = test::run_cmd(train_cmd(data_, ref, 4, "--save_steps 0"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  // 2 ranks (ZeRO-2) to step 3, then 1 rank with twice the accumulation to the end...
  const std::string a = dir_ + "/a";
  r = test::run_cmd(mpirun(2) + train_cmd(data_, a, 2, "--save_steps 3 --zero_stage 2"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  fs::remove_all(a + "/checkpoint-5");
  r = test::run_cmd(train_cmd(data_, a, 4, "--save_steps 3 --resume auto"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("resumed from " + a + "/checkpoint-3"), std::string::npos) << r.out;
  expect_same_losses(a + ".jsonl", ref + ".jsonl");
  expect_same_weights(a + "/checkpoint-5", ref + "/checkpoint-5", 1e-5);
  // ...and the reverse: 1 rank to step 3, then 2 ranks (ZeRO-1) re-cutting the moments.
  const std::string b = dir_ + "/b";
  r = test::run_cmd(train_cmd(data_, b, 4, "--save_steps 3"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  fs::remove_all(b + "/checkpoint-5");
  r = test::run_cmd(mpirun(2) + train_cmd(data_, b, 2, "--save_steps 3 --zero_stage 1 --resume auto"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  expect_same_losses(b + ".jsonl", ref + ".jsonl");
  expect_same_weights(b + "/checkpoint-5", ref + "/checkpoint-5", 1e-5);
  // Another global batch is another run: refused, naming what differs.
  r = test::run_cmd(mpirun(2) + train_cmd(data_, b, 4, "--save_steps 3 --resume " + b + "/checkpoint-3"));
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("micro_batches_per_step was 4, now 8"), std::string::npos) << r.err;
}

// Starts `cmd` as its own process (exec'd by sh), returns its pid.
pid_t spawn(const std::string& cmd, const std::string& err_file) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string full = "exec " + cmd + " >/dev/null 2>" + err_file;
    execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Running (a zombie left to an init that does not reap is not running).
bool alive(pid_t p) {
  std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
  std::string pid, comm, state;
  return stat >> pid >> comm >> state && state != "Z" && state != "X";
}

TEST_F(DistributedTrain, KilledRankEndsTheJobAndItResumesBitIdentically) {
  const std::string straight = dir_ + "/straight";
  const std::string many_steps = " --save_steps 20 --zero_stage 2";
  auto r = test::run_cmd(mpirun(2) + train_cmd(data_, straight, 2, many_steps, 400));
  ASSERT_EQ(r.status, 0) << r.out << r.err;

  const std::string killed = dir_ + "/killed";
  const pid_t job = spawn(mpirun(2) + train_cmd(data_, killed, 2, many_steps, 400), dir_ + "/killed.err");
  // Wait for a checkpoint, then kill rank 1 (a child of mpirun) mid-run.
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(killed + "/checkpoint-20") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(killed + "/checkpoint-20"));
  const auto ranks = test::run_cmd("pgrep -P " + std::to_string(job));
  std::istringstream pids(ranks.out);
  std::vector<pid_t> children;
  for (pid_t p; pids >> p;) children.push_back(p);
  ASSERT_EQ(children.size(), 2u) << ranks.out;
  ::kill(children.back(), SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(job, &status, WNOHANG) == 0) {
    ASSERT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(20)) << "the job hangs";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
  std::ifstream err_in(dir_ + "/killed.err");
  const std::string err((std::istreambuf_iterator<char>(err_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(err.find("signal 9"), std::string::npos) << err;  // mpirun names the rank that died and how
  for (pid_t p : children) EXPECT_FALSE(alive(p)) << "rank " << p << " outlived the job";

  r = test::run_cmd(mpirun(2) + train_cmd(data_, killed, 2, many_steps + " --resume auto", 400));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  expect_same_weights(killed + "/checkpoint-400", straight + "/checkpoint-400", 0.0);
  const std::vector<double> a = losses(killed + ".jsonl"), b = losses(straight + ".jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
}

TEST_F(DistributedTrain, AnErrorOnTheRanksEndsTheJobWithItsExitCode) {
  auto r = test::run_cmd(mpirun(2) + train_cmd(data_, dir_ + "/bad", 2, "--zero_stage 3"));
  EXPECT_EQ(r.status, 2) << r.out << r.err;  // kInvalidArgument, through MPI_Abort
  EXPECT_NE(r.err.find("zero_stage must be 0, 1 or 2 (got 3)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dm
