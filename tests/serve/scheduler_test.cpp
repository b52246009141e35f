// The scheduler without HTTP: golden greedy replies through a slot (tiny-qwen2, tiny-qwen1), prefix reuse
// and slot choice, the bounded queue, cancellation, and concurrent jobs giving the same tokens as serial ones.
#include "devops_model/serve/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "devops_model/core/error.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/generate/chat_session.h"
#include "test_util.h"

namespace dm {
namespace {

struct Fixture {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::vector<int32_t> prompt, golden;
  explicit Fixture(const std::string& name) {
    const std::string dir = test::fixture(name);
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
    auto st = SafetensorsFile::open(dir + "/golden.safetensors");
    prompt = test::golden_ids(*st, "greedy.prompt");
    golden = test::golden_ids(*st, "greedy.output");
  }
  // Token ids as the server renders them: complete UTF-8, invalid bytes as U+FFFD.
  std::string text_of(std::span<const int32_t> ids) const {
    StreamDecoder d(*tok);
    std::string s;
    for (int32_t id : ids) s += d.push(id);
    return s + d.flush();
  }
  Job greedy_job(int max_tokens = 16) const {
    Job j;
    j.prompt = prompt;
    j.params.do_sample = false;
    j.params.repetition_penalty = 1.0;
    j.params.max_new_tokens = max_tokens;
    j.rules = stop_rules(*tok, j.params);
    return j;
  }
};

TEST(Scheduler, GreedyReplyIsTheGoldenOutput) {
  for (const char* name : {"tiny-qwen2", "tiny-qwen1"}) {
    Fixture f(name);
    Scheduler s(*f.model, *f.tok, {1, 4});
    std::string streamed;
    auto lease = s.acquire(f.prompt);
    JobResult r = s.run(*lease, f.greedy_job(), [&](std::string_view t) {
      streamed += t;
      return true;
    });
    EXPECT_EQ(r.text, f.text_of(f.golden)) << name;
    EXPECT_EQ(streamed, r.text) << name;
    EXPECT_EQ(r.completion_tokens, 16) << name;
    EXPECT_EQ(r.prompt_tokens, static_cast<int>(f.prompt.size())) << name;
    EXPECT_EQ(r.finish, FinishReason::kLength) << name;
  }
}

TEST(Scheduler, PicksTheSlotWithTheLongestCommonPrefix) {
  Fixture f("tiny-qwen2");
  Scheduler s(*f.model, *f.tok, {2, 4});
  Job a = f.greedy_job(4);
  Job b = a;
  b.prompt = f.tok->encode("hello world");  // shares no prefix with a
  int slot_a, slot_b;
  {
    auto l = s.acquire(a.prompt);
    slot_a = l->slot();
    s.run(*l, a);
  }
  {
    auto l = s.acquire(b.prompt);
    slot_b = l->slot();
    EXPECT_NE(slot_b, slot_a);  // least recently used on a tie (no shared prefix)
    s.run(*l, b);
  }
  // The next turn of conversation a: a's slot, and its whole prompt comes from the cache.
  Job a2 = a;
  a2.prompt.push_back(f.golden[0]);
  auto l = s.acquire(a2.prompt);
  EXPECT_EQ(l->slot(), slot_a);
  JobResult r = s.run(*l, a2);
  EXPECT_EQ(r.reused_tokens, static_cast<int>(a.prompt.size()));
  EXPECT_EQ(r.text, f.text_of(std::span<const int32_t>(f.golden).subspan(1, 4)));
}

TEST(Scheduler, BoundedQueueRefusesAndCancelFreesTheSlot) {
  Fixture f("tiny-qwen2");
  Scheduler s(*f.model, *f.tok, {1, 0});
  auto held = s.acquire(f.prompt);
  try {
    s.acquire(f.prompt);
    FAIL() << "expected kCapacity";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCapacity);
  }
  EXPECT_EQ(s.stats().refused, 1);
  // A job whose consumer goes away after the first piece stops there.
  int pieces = 0;
  JobResult r = s.run(*held, f.greedy_job(100), [&](std::string_view) { return ++pieces < 1; });
  EXPECT_EQ(r.finish, FinishReason::kCancelled);
  EXPECT_LE(r.completion_tokens, 4);
  held.reset();
  EXPECT_EQ(s.stats().busy, 0);
  EXPECT_EQ(s.stats().cancelled, 1);
}

TEST(Scheduler, WaitersAreServedAndAbandonedWaitersLeave) {
  Fixture f("tiny-qwen2");
  Scheduler s(*f.model, *f.tok, {1, 2});
  auto held = s.acquire(f.prompt);
  std::atomic<bool> give_up{false};
  std::thread quitter([&] { EXPECT_EQ(s.acquire(f.prompt, [&] { return give_up.load(); }), nullptr); });
  while (s.stats().waiting < 1) std::this_thread::yield();
  give_up = true;
  quitter.join();
  EXPECT_EQ(s.stats().waiting, 0);
  std::thread waiter([&] {
    auto l = s.acquire(f.prompt);
    EXPECT_NE(l, nullptr);
  });
  while (s.stats().waiting < 1) std::this_thread::yield();
  held.reset();
  waiter.join();
  EXPECT_EQ(s.stats().busy, 0);
}

TEST(Scheduler, ConcurrentJobsGiveTheSerialTokens) {
  Fixture f("tiny-qwen1");
  Scheduler s(*f.model, *f.tok, {3, 8});
  const std::string want = f.text_of(f.golden);
  std::vector<std::string> got(6);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < got.size(); ++i) {
    ts.emplace_back([&, i] {
      auto l = s.acquire(f.prompt);
      got[i] = s.run(*l, f.greedy_job()).text;
    });
  }
  for (auto& t : ts) t.join();
  for (const auto& g : got) EXPECT_EQ(g, want);
  EXPECT_EQ(s.stats().completed, 6);
}

}  // namespace
}  // namespace dm
