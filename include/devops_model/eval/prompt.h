// Prompt conventions for multiple-choice evaluation, rendered byte-exact:
//   devops-eval (the seed's harness, default): header H =
//     "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n";
//     block "问题：{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\n答案："; each shot = H + block + "{ANSWER}\n";
//     prompt = shots + H + block.
//   cmmlu: "以下是关于{科目}的单项选择题，请直接给出正确答案的选项。\n\n" once, then per example
//     "题目：{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\n答案是：" (+ "{ANSWER}\n\n" for shots).
//   ceval: "以下是中国关于{科目}考试的单项选择题，请选出其中的正确答案。\n\n" once, then per example
//     "{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\n答案：" (+ "{ANSWER}\n\n" for shots).
// Chat models get the whole prompt as one ChatML user turn:
//   "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n".
#pragma once
#include <span>
#include <string>

#include "devops_model/eval/dataset.h"

namespace dm {

enum class PromptConvention { kDevopsEval, kCmmlu, kCeval };
// "devops-eval", "cmmlu", "ceval"; Error(kInvalidArgument) for anything else.
PromptConvention parse_convention(const std::string& name);
const char* convention_name(PromptConvention c);

// The seed's harness system prompt (lower case, no period).
inline constexpr const char* kEvalSystemPrompt = "you are a helpful assistant";

struct PromptStyle {
  PromptConvention convention = PromptConvention::kDevopsEval;
  bool chat = false;                       // wrap as one ChatML user turn
  std::string system = kEvalSystemPrompt;  // ChatML system message when chat
};

// A prompt as a part shared by every question of a subject (chat head, header, shots) and the
// question's own part. prefix + question is the full prompt; the split lies right after a newline
// so BPE pre-tokenisation cannot merge across it (the scorer still checks, per question).
struct SplitPrompt {
  std::string prefix;
  std::string question;
  std::string full() const { return prefix + question; }
};

// shots: the k-shot examples (the first k dev rows), in order; subject_zh: for cmmlu/ceval headers.
std::string render_prompt_prefix(const PromptStyle& style, const std::string& subject_zh,
                                 std::span<const McqQuestion> shots);
std::string render_prompt_question(const PromptStyle& style, const McqQuestion& q);
SplitPrompt render_prompt(const PromptStyle& style, const std::string& subject_zh, std::span<const McqQuestion> shots,
                          const McqQuestion& q);

}  // namespace dm
