// Checkpoints: 4 steps straight == 2 steps + resume + 2 steps (bit-identical weights); checkpoints are HF
// directories the engine loads; a writer killed mid-checkpoint leaves the previous checkpoint loadable.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

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

}  // namespace
}  // namespace dm
