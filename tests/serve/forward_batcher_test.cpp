// ForwardBatcher::run: other compute (embeddings) runs on the one compute thread, one job at a time,
// for many concurrent callers; a job's exception reaches its caller and the batcher keeps serving.
#include "devops_model/serve/forward_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.h"

namespace dm {
namespace {

TEST(ForwardBatcher, JobsRunOnTheComputeThreadOneAtATime) {
  auto model = Model::load(test::fixture("tiny-qwen2"));
  ForwardBatcher b(*model);
  std::thread::id runner;
  b.run([&] { runner = std::this_thread::get_id(); });
  EXPECT_NE(runner, std::this_thread::get_id());
  std::atomic<int> running{0}, overlap{0}, done{0};
  std::atomic<bool> foreign{false};
  std::vector<std::thread> callers;
  for (int c = 0; c < 8; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        b.run([&] {
          if (std::this_thread::get_id() != runner) foreign = true;
          if (running.fetch_add(1) != 0) overlap++;
          std::this_thread::yield();
          running.fetch_sub(1);
          done++;
        });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(done.load(), 400);
  EXPECT_EQ(overlap.load(), 0);
  EXPECT_FALSE(foreign.load());
  EXPECT_EQ(b.stats().steps, 0);  // jobs are not decode steps
}

TEST(ForwardBatcher, JobExceptionsReachTheCallerAndStepsStillRun) {
  auto model = Model::load(test::fixture("tiny-qwen2"));
  ForwardBatcher b(*model);
  EXPECT_THROW(b.run([] { throw std::runtime_error("boom"); }), std::runtime_error);
  int x = 0;
  b.run([&] { x = 7; });
  EXPECT_EQ(x, 7);
  auto cache = model->new_cache(8);
  std::vector<float> logits;
  const std::vector<int32_t> ids = {1, 2, 3};
  b.forward(ids, *cache, logits);
  EXPECT_EQ(static_cast<int>(logits.size()), model->config().vocab_size);
  EXPECT_EQ(b.stats().steps, 1);
}

}  // namespace
}  // namespace dm
