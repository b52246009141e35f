// Chat prompts against the goldens: Qwen1 make_context (qwen-tokenizer/golden_make_context.json and
// tiny-qwen1's greedy.prompt), Qwen2/3 ChatML (tiny-qwen2/3 greedy.prompt); stop rules and cleanup.
#include "devops_model/generate/chat_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "test_util.h"

namespace dm {
namespace {
using nlohmann::json;
const std::string kFix = DM_FIXTURES_DIR;

std::vector<ChatTurn> turns_of(const json& h) {
  std::vector<ChatTurn> t;
  for (const auto& p : h) t.push_back({p[0].get<std::string>(), p[1].get<std::string>()});
  return t;
}

TEST(MakeContextQwen1, GoldenCasesRealVocabulary) {
  auto tok = Tokenizer::from_file(kFix + "/qwen-tokenizer/qwen.tiktoken");
  const json cases = json::parse(read_file(kFix + "/qwen-tokenizer/golden_make_context.json"));
  ASSERT_EQ(cases.size(), 2u);
  for (const auto& c : cases) {
    const ChatPrompt p = make_context_qwen1(*tok, c["query"].get<std::string>(), turns_of(c["history"]),
                                            c["system"].get<std::string>(), c["max_window_size"].get<int>());
    EXPECT_EQ(p.raw_text, c["raw_text"].get<std::string>()) << "max_window_size " << c["max_window_size"];
    EXPECT_EQ(p.tokens, c["context_tokens"].get<std::vector<int32_t>>()) << "max_window_size " << c["max_window_size"];
  }
}

TEST(MakeContextQwen1, SpecVectorAndPiecewiseEncoding) {
  auto tok = Tokenizer::from_file(kFix + "/qwen-tokenizer/qwen.tiktoken");
  const std::vector<int32_t> want = {151644, 8948,   198, 2610, 525,    264,    10950, 17847,  13,    151645,
                                     198,    151644, 872, 198,  108386, 151645, 198,   151644, 77091, 198};
  EXPECT_EQ(make_context_qwen1(*tok, "你好", {}).tokens, want);
  // Content "\nhello" is tokenised on its own: user, \n, \n, hello (not \n\n merged).
  const auto p = make_context_qwen1(*tok, "\nhello", {}, "");
  const std::vector<int32_t> user_part = {151644, 872, 198, 198, 14990, 151645};
  EXPECT_NE(std::search(p.tokens.begin(), p.tokens.end(), user_part.begin(), user_part.end()), p.tokens.end());
  // Injected special strings stay text inside make_context.
  const auto inj = make_context_qwen1(*tok, "<|im_end|>", {}, "");
  EXPECT_EQ(std::count(inj.tokens.begin(), inj.tokens.end(), 151645), 2);
}

TEST(MakeContextQwen1, TinyQwen1GreedyPrompt) {
  auto tok = Tokenizer::from_dir(kFix + "/tiny-qwen1");
  const auto st = SafetensorsFile::open(kFix + "/tiny-qwen1/golden.safetensors");
  const auto params = generation_params_from_dir(kFix + "/tiny-qwen1");
  const ChatPrompt p = make_context_qwen1(*tok, "什么是持续集成？", {{"你是谁", "我是 DevOps 助手。"}},
                                          kDefaultSystemPrompt, params.max_window_size);
  EXPECT_EQ(p.tokens, test::golden_ids(*st, "greedy.prompt"));
  EXPECT_EQ(p.tokens.size(), 86u);
}

TEST(ChatMl, TinyQwen2AndQwen3GreedyPrompts) {
  for (const char* model : {"tiny-qwen2", "tiny-qwen3"}) {
    const std::string dir = kFix + "/" + model;
    auto tok = Tokenizer::from_dir(dir);
    const ChatTemplateInfo info = chat_template_from_dir(dir);
    EXPECT_TRUE(info.found && info.is_chatml) << model;
    EXPECT_EQ(info.default_system, "") << model;  // the fixtures' template inserts no system block
    // The golden conversation gives its system message explicitly.
    const ChatPrompt p =
        encode_chatml(*tok, chat_messages(kDefaultSystemPrompt, {}, "什么是持续集成？"), info.default_system);
    EXPECT_EQ(
        p.raw_text,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n什么是持续集成？<|im_end|>\n"
        "<|im_start|>assistant\n");
    const auto st = SafetensorsFile::open(dir + "/golden.safetensors");
    EXPECT_EQ(p.tokens, test::golden_ids(*st, "greedy.prompt")) << model;
  }
}

TEST(ChatMl, RenderingRules) {
  const std::vector<ChatMessage> with_system = {{"system", "S"}, {"user", "q"}, {"assistant", "a"}, {"user", "q2"}};
  EXPECT_EQ(render_chatml(with_system),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\na<|im_end|>\n"
            "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_chatml({{"user", "q"}}, "", false), "<|im_start|>user\nq<|im_end|>\n");
  const auto q25 = inspect_chat_template(
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' "
      "}}"
      "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
      "assistant.<|im_end|>\\n' }}"
      "{%- endif %}{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + "
      "'<|im_end|>' + '\\n' }}"
      "{%- endfor %}");
  EXPECT_TRUE(q25.is_chatml);
  EXPECT_EQ(q25.default_system, kQwen25SystemPrompt);
  EXPECT_FALSE(q25.strips_reasoning);
  // Qwen2-Instruct: the default sentence; Qwen3: no system block unless given, earlier thinking dropped.
  const auto q2 = inspect_chat_template(
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
      "'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
      "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}");
  EXPECT_EQ(q2.default_system, kDefaultSystemPrompt);
  const auto q3 = inspect_chat_template(
      "{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
      "{%- endif %}{%- for message in messages %}{%- if message.role == 'assistant' and '</think>' in message.content "
      "%}"
      "{%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}"
      "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}"
      "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and "
      "enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}");
  EXPECT_TRUE(q3.is_chatml);
  EXPECT_EQ(q3.default_system, "");
  EXPECT_TRUE(q3.strips_reasoning);
  EXPECT_TRUE(q3.thinking_switch);
  EXPECT_FALSE(q2.thinking_switch);
  EXPECT_EQ(render_chatml({{"user", "q"}}, "", true, true, true),
            "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  const std::vector<ChatMessage> thought = {
      {"user", "q1"}, {"assistant", "<think>\nplan A\n</think>\n\nanswer 1"}, {"user", "q2"}};
  EXPECT_EQ(render_chatml(thought, "", true, true),
            "<|im_start|>user\nq1<|im_end|>\n<|im_start|>assistant\nanswer 1<|im_end|>\n"
            "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_NE(render_chatml(thought, "", true, false).find("plan A"), std::string::npos);  // kept when not asked
  EXPECT_FALSE(inspect_chat_template("{{ bos_token }}[INST] {{ message['content'] }} [/INST]").is_chatml);
}

TEST(StopRules, FromGenerationConfigAndCleanup) {
  auto tok = Tokenizer::from_dir(kFix + "/tiny-qwen1");
  const auto params = generation_params_from_dir(kFix + "/tiny-qwen1");
  const StopRules r = stop_rules(*tok, params);
  for (int32_t id : {507, 508, 509}) EXPECT_TRUE(r.is_stop_id(id)) << id;
  EXPECT_FALSE(r.is_stop_id(510));
  const auto hello = tok->encode("  Hello world \n");
  std::vector<int32_t> gen = hello;
  EXPECT_FALSE(r.should_stop(gen));
  gen.push_back(509);
  EXPECT_TRUE(r.should_stop(gen));
  gen.push_back(507);
  gen.push_back(300);
  EXPECT_EQ(clean_reply(*tok, gen, r), "Hello world");
  // Qwen1 _decode_chatml: stops at im_end; without im_start/im_end the last token is dropped.
  EXPECT_EQ(decode_chatml_qwen1(*tok, gen), "Hello world");
  std::vector<int32_t> no_stop = tok->encode("ab cd");
  const std::string without_last = tok->decode(std::span<const int32_t>(no_stop).first(no_stop.size() - 1));
  EXPECT_EQ(decode_chatml_qwen1(*tok, no_stop), without_last);
  // Multi-token stop sequences (Qwen1 "raw": "Human:").
  GenerationParams raw = params;
  raw.chat_format = "raw";
  const StopRules rr = stop_rules(*tok, raw);
  std::vector<int32_t> g2 = tok->encode("answer\n");
  const auto human = tok->encode("Human:", false);
  ASSERT_GT(human.size(), 1u);
  g2.insert(g2.end(), human.begin(), human.end());
  EXPECT_TRUE(rr.should_stop(g2));
  EXPECT_EQ(clean_reply(*tok, g2, rr), "answer");
}

}  // namespace
}  // namespace dm
