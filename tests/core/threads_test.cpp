#include "devops_model/core/threads.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "devops_model/core/error.h"

namespace dm {
namespace {

// Each test sets its own thread count; the fixture puts the previous one back.
class ParallelFor : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = num_threads(); }
  void TearDown() override { set_num_threads(saved_); }

 private:
  int saved_ = 0;
};

struct Chunk {
  int64_t begin, end;
  int worker;
};

std::vector<Chunk> record_chunks(int64_t n) {
  std::mutex mu;
  std::vector<Chunk> chunks;
  parallel_for(n, [&](int64_t b, int64_t e, int w) {
    std::lock_guard<std::mutex> lock(mu);
    chunks.push_back({b, e, w});
  });
  return chunks;
}

TEST_F(ParallelFor, WorkersDistinctInRangeAndChunksStatic) {
  for (int threads : {2, 3, 4, 7}) {
    set_num_threads(threads);
    for (int64_t n : {int64_t{2}, int64_t{5}, int64_t{64}, int64_t{1001}}) {
      SCOPED_TRACE(testing::Message() << "threads " << threads << " n " << n);
      std::vector<Chunk> chunks = record_chunks(n);
      const int64_t team = std::min<int64_t>(threads, n);
      const int64_t c = (n + team - 1) / team;
      std::set<int> workers;
      for (const Chunk& ch : chunks) {
        EXPECT_GE(ch.worker, 0);
        EXPECT_LT(ch.worker, num_threads());
        EXPECT_TRUE(workers.insert(ch.worker).second) << "worker " << ch.worker << " twice";
        // Static contiguous split: worker w owns [w*c, min((w+1)*c, n)).
        EXPECT_EQ(ch.begin, ch.worker * c);
        EXPECT_EQ(ch.end, std::min<int64_t>((ch.worker + 1) * c, n));
      }
    }
  }
}

TEST_F(ParallelFor, CoversRangeExactlyOnce) {
  set_num_threads(4);
  for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{997}}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, [&](int64_t b, int64_t e) {  // the (begin, end) form still works
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
  }
}

TEST_F(ParallelFor, EmptyRangeNeverCallsBody) {
  set_num_threads(4);
  int calls = 0;
  parallel_for(0, [&](int64_t, int64_t) { ++calls; });
  parallel_for(-3, [&](int64_t, int64_t, int) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST_F(ParallelFor, ExceptionReachesCallerWithTypeAndMessage) {
  for (int threads : {1, 4}) {
    set_num_threads(threads);
    std::atomic<int64_t> done{0};
    try {
      parallel_for(100, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          if (i == 37) fail(ErrorKind::kFormat, "bad item ", i);
          done.fetch_add(1);
        }
      });
      ADD_FAILURE() << "no exception (threads " << threads << ")";
    } catch (const Error& err) {
      EXPECT_EQ(err.kind(), ErrorKind::kFormat);
      EXPECT_STREQ(err.what(), "bad item 37");
    }
    EXPECT_LT(done.load(), 100);
    // The pool is usable afterwards.
    std::atomic<int64_t> sum{0};
    parallel_for(10, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
    });
    EXPECT_EQ(sum.load(), 45);
  }
}

TEST_F(ParallelFor, EveryChunkThrowingRethrowsExactlyOne) {
  set_num_threads(4);
  try {
    parallel_for(8, [&](int64_t b, int64_t, int w) {
      throw std::out_of_range("chunk " + std::to_string(b) + " worker " + std::to_string(w));
    });
    ADD_FAILURE() << "no exception";
  } catch (const std::out_of_range& err) {
    EXPECT_EQ(std::string(err.what()).rfind("chunk ", 0), 0u) << err.what();
  }
}

TEST_F(ParallelFor, OneThreadRunsWholeRangeAsWorkerZero) {
  set_num_threads(1);
  std::vector<Chunk> chunks = record_chunks(50);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].begin, 0);
  EXPECT_EQ(chunks[0].end, 50);
  EXPECT_EQ(chunks[0].worker, 0);
}

TEST_F(ParallelFor, NestedCallRunsInnerRangeOnCallingThread) {
  set_num_threads(4);
  std::mutex mu;
  std::vector<std::vector<Chunk>> inner(4);
  parallel_for(4, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      std::vector<Chunk> got = record_chunks(30);
      std::lock_guard<std::mutex> lock(mu);
      inner[static_cast<size_t>(i)] = std::move(got);
    }
  });
  for (const auto& chunks : inner) {
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].begin, 0);
    EXPECT_EQ(chunks[0].end, 30);
    EXPECT_EQ(chunks[0].worker, 0);
  }
  // An exception thrown by a nested body crosses both levels.
  auto outer = [](int64_t, int64_t) {
    parallel_for(10, [](int64_t b, int64_t) {
      if (b == 0) fail(ErrorKind::kIo, "inner");
    });
  };
  EXPECT_THROW(parallel_for(4, outer), Error);
}

TEST_F(ParallelFor, ConstAndMoveOnlyBodies) {
  set_num_threads(3);
  std::atomic<int64_t> total{0};
  const auto body = [&](int64_t b, int64_t e) { total.fetch_add(e - b); };
  parallel_for(9, body);
  auto owned = std::make_unique<int>(2);
  parallel_for(9, [&total, p = std::move(owned)](int64_t b, int64_t e, int) { total.fetch_add((e - b) * *p); });
  EXPECT_EQ(total.load(), 27);
}

}  // namespace
}  // namespace dm
