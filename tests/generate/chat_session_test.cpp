// ChatSession and `devops-model chat` against the goldens: the golden conversation's greedy reply is
// exactly the golden 16 tokens, through the library and through the CLI fed on stdin.
#include "devops_model/generate/chat_session.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "test_util.h"

namespace dm {
namespace {

GenerationParams greedy16(const std::string& dir) {
  GenerationParams p = generation_params_from_dir(dir);
  p.do_sample = false;
  p.repetition_penalty = 1.0;  // the goldens are plain argmax
  p.max_new_tokens = 16;
  return p;
}

TEST(ChatSession, Qwen1GoldenConversationGivesGoldenTokens) {
  const std::string dir = test::fixture("tiny-qwen1");
  auto model = Model::load(dir);
  auto tok = Tokenizer::from_dir(dir);
  auto golden = SafetensorsFile::open(dir + "/golden.safetensors");
  ChatSession s(*model, *tok, greedy16(dir));
  s.params().max_window_size = 64;
  s.set_history({{"你是谁", "我是 DevOps 助手。"}});
  std::string streamed;
  std::string reply = s.chat("什么是持续集成？", [&](std::string_view p) {
    streamed += p;
    return true;
  });
  EXPECT_EQ(s.last_prompt_ids(), test::golden_ids(*golden, "greedy.prompt"));
  EXPECT_EQ(s.last_reply_ids(), test::golden_ids(*golden, "greedy.output"));
  EXPECT_EQ(s.last_stop_reason(), StopReason::kMaxTokens);
  ASSERT_EQ(s.history().size(), 2u);
  EXPECT_EQ(s.history()[1].query, "什么是持续集成？");
  EXPECT_EQ(s.history()[1].reply, reply);
  EXPECT_FALSE(streamed.empty());
}

TEST(ChatSession, Qwen2AndQwen3GoldenPrompts) {
  for (const char* name : {"tiny-qwen2", "tiny-qwen3"}) {
    const std::string dir = test::fixture(name);
    auto model = Model::load(dir);
    auto tok = Tokenizer::from_dir(dir);
    auto golden = SafetensorsFile::open(dir + "/golden.safetensors");
    ChatSession s(*model, *tok, greedy16(dir), "You are a helpful assistant.");
    s.chat("什么是持续集成？");
    EXPECT_EQ(s.last_prompt_ids(), test::golden_ids(*golden, "greedy.prompt")) << name;
    EXPECT_EQ(s.last_reply_ids(), test::golden_ids(*golden, "greedy.output")) << name;
  }
}

TEST(ChatSession, SecondTurnReusesTheCacheAndMatchesAFreshSession) {
  const std::string dir = test::fixture("tiny-qwen2");
  auto model = Model::load(dir);
  auto tok = Tokenizer::from_dir(dir);
  GenerationParams p = greedy16(dir);
  p.max_new_tokens = 6;
  ChatSession a(*model, *tok, p);
  a.chat("你好");
  a.chat("线程安全代表什么");
  EXPECT_GT(a.last_reused_tokens(), 10);  // the first turn's prompt was not recomputed
  ChatSession b(*model, *tok, p);         // fresh cache, same first turn in its history
  std::vector<ChatTurn> first(a.history().begin(), a.history().begin() + 1);
  b.set_history(first);
  b.chat("线程安全代表什么");
  EXPECT_EQ(b.last_reused_tokens(), 0);
  EXPECT_EQ(a.last_prompt_ids(), b.last_prompt_ids());
  EXPECT_EQ(a.last_reply_ids(), b.last_reply_ids());
}

TEST(ChatSession, SeededSamplingIsReproducible) {
  const std::string dir = test::fixture("tiny-qwen3");
  auto model = Model::load(dir);
  auto tok = Tokenizer::from_dir(dir);
  GenerationParams p = generation_params_from_dir(dir);
  p.do_sample = true;
  p.max_new_tokens = 12;
  p.seed = 1234;
  ChatSession a(*model, *tok, p), b(*model, *tok, p);
  a.chat("Kubernetes 是什么");
  b.chat("Kubernetes 是什么");
  EXPECT_EQ(a.last_reply_ids(), b.last_reply_ids());
}

TEST(ChatSession, MessagesMustEndWithUser) {
  const std::string dir = test::fixture("tiny-qwen2");
  auto model = Model::load(dir);
  auto tok = Tokenizer::from_dir(dir);
  GenerationParams p;
  ChatTemplateInfo style;
  style.default_system = "sys";
  EXPECT_THROW(build_chat_prompt(*model, *tok, p, {{"user", "a"}, {"assistant", "b"}}, style), Error);
  EXPECT_THROW(build_chat_prompt(*model, *tok, p, {{"tool", "a"}}, style), Error);
  // enable_thinking=false changes the prompt only where the template has the switch.
  const std::vector<ChatMessage> one = {{"user", "a"}};
  EXPECT_EQ(build_chat_prompt(*model, *tok, p, one, style, false).raw_text,
            build_chat_prompt(*model, *tok, p, one, style).raw_text);
  ChatTemplateInfo qwen3 = style;
  qwen3.thinking_switch = true;
  EXPECT_TRUE(
      build_chat_prompt(*model, *tok, p, one, qwen3, false).raw_text.ends_with("assistant\n<think>\n\n</think>\n\n"));
  ChatPrompt pr =
      build_chat_prompt(*model, *tok, p, {{"system", "S"}, {"user", "a"}, {"assistant", "b"}, {"user", "c"}}, style);
  EXPECT_EQ(pr.raw_text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
            "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n");
}

// The end-to-end check: `devops-model chat` driven through stdin on tiny-qwen1, greedy.
TEST(ChatCli, StdinConversationGivesGoldenGreedyTokens) {
  const std::string dir = test::fixture("tiny-qwen1");
  std::string hist = test::temp_dir("chat_cli") + "/history.json";
  {
    std::FILE* f = std::fopen(hist.c_str(), "w");
    std::fputs("[[\"你是谁\", \"我是 DevOps 助手。\"]]", f);
    std::fclose(f);
  }
  // Interactive mode reading stdin; /save writes the conversation, which holds the reply.
  std::string saved = hist + ".out.json";
  auto r =
      test::run_cmd("printf '什么是持续集成？\\n/save " + saved + "\\n/exit\\n' | " + test::cli() + " chat --model " +
                    dir + " --greedy --repetition-penalty 1 --max-new-tokens 16 --history " + hist);
  ASSERT_EQ(r.status, 0) << r.err;
  // --json with the same conversation gives the ids; the stdin run printed the same reply text.
  auto j = test::run_cmd(
      test::cli() + " chat --model " + dir +
      " --greedy --repetition-penalty 1 --max-new-tokens 16 --json --prompt 什么是持续集成？ --history " + hist);
  ASSERT_EQ(j.status, 0) << j.err;
  auto out = nlohmann::json::parse(j.out);
  auto golden = SafetensorsFile::open(dir + "/golden.safetensors");
  EXPECT_EQ(out["prompt_ids"].get<std::vector<int32_t>>(), test::golden_ids(*golden, "greedy.prompt"));
  EXPECT_EQ(out["reply_ids"].get<std::vector<int32_t>>(), test::golden_ids(*golden, "greedy.output"));
  auto saved_json = nlohmann::json::parse(read_file(saved));
  ASSERT_EQ(saved_json.size(), 2u);
  EXPECT_EQ(saved_json[1][1].get<std::string>(), out["reply"].get<std::string>());
  EXPECT_NE(r.out.find(out["reply"].get<std::string>()), std::string::npos);
}

}  // namespace
}  // namespace dm
