// Checkpoints: 4 steps straight == 2 steps + resume + 2 steps (bit-identical weights); checkpoints are HF
// directories the engine loads; a writer killed mid-checkpoint leaves the previous checkpoint loadable.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "devops_model/core/error.h"
#include "devops_model/model/model.h"
#include "devops_model/train/checkpoint.h"
#include "devops_model/train/trainer.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace dm {
namespace {

std::vector<Example> synthetic_data(int n, int T) {
  std::vector<Example> d;
  for (int i = 0; i < n; ++i) {
    Example e;
    const int len = T - (i % 3);  // ragged lengths exercise padding
    for (int t = 0; t < len; ++t) e.ids.push_back((i * 31 + t * 7) % 500);
    e.labels = e.ids;
    e.labels[0] = -100;
    d.push_back(e);
  }
  return d;
}

TrainArgs args_for(const std::string& out) {
  TrainArgs a;
  a.output_dir = out;
  a.source_dir = test::fixture("tiny-qwen2-train");
  a.learning_rate = 1e-3, a.batch_size = 2, a.grad_accum = 2, a.max_steps = 4, a.save_steps = 2;
  a.lr_scheduler_type = "cosine", a.warmup_ratio = 0.25, a.weight_decay = 0.1;
  return a;
}

std::unique_ptr<TrainModel> fresh() { return TrainModel::from_model(*Model::load(test::fixture("tiny-qwen2-train"))); }

TEST(Resume, FourStepsEqualTwoPlusResumePlusTwo) {
  const std::string root = test::temp_dir("train_resume");
  auto data = synthetic_data(7, 12);
  auto a = fresh();
  Trainer straight(args_for(root + "/a"), *a, data);
  straight.train(nullptr);
  ASSERT_TRUE(fs::exists(root + "/a/checkpoint-4/model.safetensors"));
  ASSERT_TRUE(fs::exists(root + "/a/checkpoint-2/optimizer.safetensors"));

  auto b = fresh();
  {
    Trainer first(args_for(root + "/b"), *b, data);
    first.train(nullptr, /*stop_at=*/2);
    first.save_checkpoint();
  }
  auto c = fresh();  // a new process would start from the original weights
  Trainer second(args_for(root + "/b"), *c, data);
  second.resume(latest_checkpoint(root + "/b"));
  EXPECT_EQ(second.step(), 2);
  second.train(nullptr);
  ASSERT_EQ(second.history().size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(second.history()[i].loss, straight.history()[i].loss) << i;
  for (Param& p : a->base_params()) {
    Param* q = c->find(p.name);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(0, std::memcmp(p.v(), q->v(), size_t(p.numel()) * sizeof(float))) << p.name;
  }
  // The final checkpoint is an HF directory the inference engine loads, tokenizer-free fixture or not.
  auto m = Model::load(root + "/a/checkpoint-4");
  EXPECT_EQ(m->config().num_layers, 2);
  EXPECT_TRUE(fs::exists(root + "/a/checkpoint-4/config.json"));
  EXPECT_TRUE(fs::exists(root + "/a/checkpoint-4/generation_config.json"));
  EXPECT_TRUE(fs::exists(root + "/a/checkpoint-4/loss_curve.svg"));
  fs::remove_all(root);
}

TEST(Resume, KilledWriterLeavesPreviousCheckpointLoadable) {
  const std::string root = test::temp_dir("train_kill");
  auto m = fresh();
  TrainArgs args = args_for(root);
  args.max_steps = 100;
  Trainer t(args, *m, synthetic_data(4, 10));
  t.train_step();
  const std::string good = t.save_checkpoint();
  t.train_step();
  pid_t pid = fork();
  if (pid == 0) {  // child: keeps rewriting checkpoint-2 until killed
    for (;;) t.save_checkpoint();
  }
  usleep(150 * 1000);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  const std::string latest = latest_checkpoint(root);
  ASSERT_FALSE(latest.empty());
  auto loaded = Model::load(latest);  // whichever is newest and complete
  EXPECT_EQ(loaded->config().hidden_size, 64);
  auto prev = Model::load(good);
  EXPECT_EQ(prev->config().hidden_size, 64);
  fs::remove_all(root);
}

std::string error_of(const std::function<void()>& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

// A checkpoint of another run (seed, data, batch size, accumulation, shuffling) is refused, naming the
// fields and their values; a changed schedule (here max_steps) resumes with a warning.
TEST(Resume, AnotherRunsCheckpointIsRefusedNamingTheFields) {
  const std::string root = test::temp_dir("train_resume_other");
  auto data = synthetic_data(7, 12);
  auto m = fresh();
  {
    Trainer first(args_for(root), *m, data);
    first.train(nullptr, /*stop_at=*/2);
    first.save_checkpoint();
  }
  const std::string ck = latest_checkpoint(root);
  TrainArgs other_seed = args_for(root);
  other_seed.seed = 7;
  ErrorKind kind{};
  auto m2 = fresh();
  Trainer a(other_seed, *m2, data);
  std::string err = error_of([&] { a.resume(ck); }, &kind);
  EXPECT_EQ(kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(err.find("seed was 42, now 7"), std::string::npos) << err;
  EXPECT_EQ(a.step(), 0);  // refused before anything changed
  Trainer b(args_for(root), *m2, synthetic_data(8, 12));
  err = error_of([&] { b.resume(ck); }, &kind);
  EXPECT_NE(err.find("data_fingerprint was"), std::string::npos) << err;
  EXPECT_NE(err.find("examples was 7, now 8"), std::string::npos) << err;
  TrainArgs accum = args_for(root);
  accum.grad_accum = 1;
  Trainer c(accum, *m2, data);
  // The step's micro-batches (accumulation x ranks) are what must match: here 1 rank, accumulation 2 -> 1.
  err = error_of([&] { c.resume(ck); });
  EXPECT_NE(err.find("micro_batches_per_step was 2, now 1"), std::string::npos) << err;
  EXPECT_NE(err.find("gradient_accumulation_steps x ranks"), std::string::npos) << err;
  TrainArgs longer = args_for(root);
  longer.max_steps = 6;
  Trainer d(longer, *m2, data);
  d.resume(ck);
  EXPECT_EQ(d.step(), 2);
  fs::remove_all(root);
}

// The newest checkpoint damaged (a weight file cut short): resume falls back to the one before it; all
// damaged: an error, never a silent start from scratch.
TEST(Resume, DamagedLatestCheckpointFallsBackToThePreviousOne) {
  const std::string root = test::temp_dir("train_resume_damaged");
  auto data = synthetic_data(7, 12);
  TrainArgs args = args_for(root);
  args.save_steps = 1;
  auto m = fresh();
  {
    Trainer t(args, *m, data);
    t.train(nullptr, /*stop_at=*/3);
    t.save_checkpoint();
  }
  ASSERT_EQ(checkpoints_newest_first(root).size(), 3u);
  fs::resize_file(root + "/checkpoint-3/model.safetensors", 100);
  auto m2 = fresh();
  Trainer t(args, *m2, data);
  EXPECT_EQ(resume_from_latest_good(t, root), root + "/checkpoint-2");
  EXPECT_EQ(t.step(), 2);
  fs::remove(root + "/checkpoint-2/optimizer.safetensors");
  fs::resize_file(root + "/checkpoint-1/trainer_state.json", 10);
  Trainer u(args, *m2, data);
  EXPECT_NE(error_of([&] { resume_from_latest_good(u, root); }).find("no checkpoint in"), std::string::npos);
  fs::remove_all(root);
}

TEST(Resume, MaxStepsMustBePositiveOrMinusOne) {
  auto m = fresh();
  for (int64_t bad : {int64_t{0}, int64_t{-5}}) {
    TrainArgs a = args_for("");
    a.max_steps = bad;
    ErrorKind kind{};
    const std::string err = error_of([&] { Trainer t(a, *m, synthetic_data(2, 8)); }, &kind);
    EXPECT_EQ(kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(err.find("max_steps must be > 0, or -1"), std::string::npos) << err;
  }
  TrainArgs epochs = args_for("");
  epochs.max_steps = -1;
  epochs.num_train_epochs = 1;
  Trainer t(epochs, *m, synthetic_data(8, 8));
  EXPECT_EQ(t.total_steps(), 2);  // 8 examples / batch 2 / accumulation 2
}

}  // namespace
}  // namespace dm
