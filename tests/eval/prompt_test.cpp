// Golden prompt strings, written by hand from the conventions' specifications (SEED_REPOS.md §2.2,
// §3, §4), not produced by the code under test.
#include "devops_model/eval/prompt.h"

#include <gtest/gtest.h>

namespace dm {
namespace {

McqQuestion q(const std::string& text, std::array<std::string, 4> opts, char ans) {
  McqQuestion m;
  m.question = text;
  m.options = std::move(opts);
  m.answer = ans;
  return m;
}

const McqQuestion kTest = q("⽤⼀个字节最多能编出（ ）不同的码", {"128个", "256个", "16个", "8个"}, 'B');
const std::vector<McqQuestion> kShots = {q("1+1=？", {"1", "2", "3", "4"}, 'B'),
                                         q("下列哪个是协议", {"ARP ", "CPU", "RAM", "ROM"}, 'A')};

TEST(Prompt, DevopsEvalZeroShotMatchesSeedExample) {
  PromptStyle st;
  SplitPrompt p = render_prompt(st, "计算机科学", {}, kTest);
  EXPECT_EQ(p.full(),
            "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n问题：⽤⼀个字节最多能编出（ "
            "）不同的码\n"
            "A. 128个\nB. 256个\nC. 16个\nD. 8个\n答案：");
  EXPECT_EQ(p.prefix, "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n");
}

TEST(Prompt, DevopsEvalTwoShotRepeatsHeader) {
  PromptStyle st;
  SplitPrompt p = render_prompt(st, "计算机科学", kShots, kTest);
  EXPECT_EQ(p.full(),
            "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n问题：1+1=？\n"
            "A. 1\nB. 2\nC. 3\nD. 4\n答案：B\n"
            "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n问题：下列哪个是协议\n"
            "A. ARP \nB. CPU\nC. RAM\nD. ROM\n答案：A\n"
            "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n问题：⽤⼀个字节最多能编出（ "
            "）不同的码\n"
            "A. 128个\nB. 256个\nC. 16个\nD. 8个\n答案：");
  EXPECT_EQ(p.question, "问题：⽤⼀个字节最多能编出（ ）不同的码\nA. 128个\nB. 256个\nC. 16个\nD. 8个\n答案：");
}

TEST(Prompt, Cmmlu) {
  PromptStyle st;
  st.convention = PromptConvention::kCmmlu;
  EXPECT_EQ(render_prompt(st, "计算机科学", {}, kTest).full(),
            "以下是关于计算机科学的单项选择题，请直接给出正确答案的选项。\n\n题目：⽤⼀个字节最多能编出（ ）不同的码\n"
            "A. 128个\nB. 256个\nC. 16个\nD. 8个\n答案是：");
  EXPECT_EQ(render_prompt(st, "计算机科学", std::span(kShots).first(1), kTest).full(),
            "以下是关于计算机科学的单项选择题，请直接给出正确答案的选项。\n\n题目：1+1=？\nA. 1\nB. 2\nC. 3\nD. "
            "4\n答案是：B\n\n"
            "题目：⽤⼀个字节最多能编出（ ）不同的码\nA. 128个\nB. 256个\nC. 16个\nD. 8个\n答案是：");
}

TEST(Prompt, Ceval) {
  PromptStyle st;
  st.convention = PromptConvention::kCeval;
  EXPECT_EQ(
      render_prompt(st, "计算机网络", std::span(kShots).first(1), kTest).full(),
      "以下是中国关于计算机网络考试的单项选择题，请选出其中的正确答案。\n\n1+1=？\nA. 1\nB. 2\nC. 3\nD. 4\n答案：B\n\n"
      "⽤⼀个字节最多能编出（ ）不同的码\nA. 128个\nB. 256个\nC. 16个\nD. 8个\n答案：");
}

TEST(Prompt, ChatWrapsOneUserTurn) {
  PromptStyle st;
  st.chat = true;
  SplitPrompt p = render_prompt(st, "", {}, kTest);
  EXPECT_EQ(p.full(),
            "<|im_start|>system\nyou are a helpful assistant<|im_end|>\n<|im_start|>user\n"
            "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n问题：⽤⼀个字节最多能编出（ "
            "）不同的码\n"
            "A. 128个\nB. 256个\nC. 16个\nD. 8个\n答案：<|im_end|>\n<|im_start|>assistant\n");
  st.system = "You are a helpful assistant.";
  EXPECT_EQ(render_prompt_prefix(st, "", {}).substr(0, 57),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>");
}

TEST(Prompt, ConventionNames) {
  EXPECT_EQ(parse_convention("devops-eval"), PromptConvention::kDevopsEval);
  EXPECT_EQ(parse_convention("cmmlu"), PromptConvention::kCmmlu);
  EXPECT_EQ(parse_convention("ceval"), PromptConvention::kCeval);
  EXPECT_THROW(parse_convention("mmlu"), std::exception);
  EXPECT_STREQ(convention_name(PromptConvention::kCeval), "ceval");
}

}  // namespace
}  // namespace dm
