#include "devops_model/eval/prompt.h"

#include "devops_model/core/error.h"

namespace dm {

namespace {

constexpr const char* kDevopsHeader = "以下是关于开发运维领域的单项选择题，请选出其中的正确答案。请直接输出选项。\n";

std::string options_block(const McqQuestion& q) {
  std::string s;
  for (int k = 0; k < 4; ++k) {
    s += static_cast<char>('A' + k);
    s += ". ";
    s += q.options[k];
    s += '\n';
  }
  return s;
}

// The example up to (and including) the answer cue; same for shots and the scored question.
std::string example(PromptConvention c, const McqQuestion& q) {
  switch (c) {
    case PromptConvention::kDevopsEval: return "问题：" + q.question + "\n" + options_block(q) + "答案：";
    case PromptConvention::kCmmlu: return "题目：" + q.question + "\n" + options_block(q) + "答案是：";
    case PromptConvention::kCeval: return q.question + "\n" + options_block(q) + "答案：";
  }
  return {};
}

std::string subject_header(PromptConvention c, const std::string& zh) {
  if (c == PromptConvention::kCmmlu) return "以下是关于" + zh + "的单项选择题，请直接给出正确答案的选项。\n\n";
  if (c == PromptConvention::kCeval) return "以下是中国关于" + zh + "考试的单项选择题，请选出其中的正确答案。\n\n";
  return kDevopsHeader;
}

std::string chat_head(const PromptStyle& s) {
  return "<|im_start|>system\n" + s.system + "<|im_end|>\n<|im_start|>user\n";
}
constexpr const char* kChatTail = "<|im_end|>\n<|im_start|>assistant\n";

}  // namespace

PromptConvention parse_convention(const std::string& name) {
  if (name == "devops-eval") return PromptConvention::kDevopsEval;
  if (name == "cmmlu") return PromptConvention::kCmmlu;
  if (name == "ceval") return PromptConvention::kCeval;
  fail(ErrorKind::kInvalidArgument, "unknown prompt convention '", name, "' (devops-eval, cmmlu, ceval)");
}

const char* convention_name(PromptConvention c) {
  switch (c) {
    case PromptConvention::kDevopsEval: return "devops-eval";
    case PromptConvention::kCmmlu: return "cmmlu";
    case PromptConvention::kCeval: return "ceval";
  }
  return "?";
}

std::string render_prompt_prefix(const PromptStyle& style, const std::string& subject_zh,
                                 std::span<const McqQuestion> shots) {
  const PromptConvention c = style.convention;
  std::string s = style.chat ? chat_head(style) : std::string();
  if (c == PromptConvention::kDevopsEval) {
    // The header is repeated before every example, including the scored one.
    for (const auto& q : shots) s += kDevopsHeader + example(c, q) + q.answer + "\n";
    s += kDevopsHeader;
    return s;
  }
  s += subject_header(c, subject_zh);
  for (const auto& q : shots) s += example(c, q) + q.answer + "\n\n";
  return s;
}

std::string render_prompt_question(const PromptStyle& style, const McqQuestion& q) {
  std::string s = example(style.convention, q);
  if (style.chat) s += kChatTail;
  return s;
}

SplitPrompt render_prompt(const PromptStyle& style, const std::string& subject_zh, std::span<const McqQuestion> shots,
                          const McqQuestion& q) {
  return {render_prompt_prefix(style, subject_zh, shots), render_prompt_question(style, q)};
}

}  // namespace dm
