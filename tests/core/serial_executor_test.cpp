// SerialExecutor: every job runs on the one executor thread, one at a time, in submission order per
// caller; a job's exception reaches its caller; many concurrent callers all finish.
#include "devops_model/core/serial_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace dm {
namespace {

TEST(SerialExecutor, OneThreadOneJobAtATimeForManyCallers) {
  SerialExecutor ex;
  std::thread::id runner;
  ex.run([&] { runner = std::this_thread::get_id(); });
  EXPECT_NE(runner, std::this_thread::get_id());
  std::atomic<int> running{0}, overlap{0}, done{0};
  std::atomic<bool> foreign{false};
  std::vector<std::thread> callers;
  for (int c = 0; c < 8; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        ex.run([&] {
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
}

TEST(SerialExecutor, ExceptionsReachTheCaller) {
  SerialExecutor ex;
  EXPECT_THROW(ex.run([] { throw std::runtime_error("boom"); }), std::runtime_error);
  int x = 0;
  ex.run([&] { x = 7; });  // still serving after a throw
  EXPECT_EQ(x, 7);
}

}  // namespace
}  // namespace dm
