// Chat prompts of the Qwen family and the stop/cleanup rules of their replies.
//  - Qwen1 (QWenLMHeadModel, DevOps-Model-7B/14B): make_context exactly as qwen_generation_utils.py
//    (spec C.1): role, "\n" and content tokenised separately with special tokens NOT allowed; history
//    dropped from the oldest turn when it would pass max_window_size.
//  - Qwen2/Qwen3: ChatML rendered as one string (the tokenizer_config chat_template when it is the
//    ChatML one) and encoded whole with special tokens allowed (spec D.5).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "devops_model/generate/generation_params.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

inline constexpr std::string_view kDefaultSystemPrompt = "You are a helpful assistant.";
inline constexpr std::string_view kQwen25SystemPrompt =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// One finished exchange, as the seed's history entries [query, reply].
struct ChatTurn {
  std::string query;
  std::string reply;
};

// A function call an assistant message made (OpenAI `tool_calls[i]`): arguments is the JSON text as the
// client sent it.
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  std::vector<ToolCall> tool_calls = {};  // assistant: the calls it made (rendered by tool_prompt.h)
  std::string tool_call_id = {};          // tool: the call this message answers
};

// What the model sees: the prompt text and its exact token ids.
struct ChatPrompt {
  std::string raw_text;
  std::vector<int32_t> tokens;
};

// Qwen1 make_context. chat_format "chatml" (default) or "raw" (raw_text = query, encoded with
// specials allowed). Throws kInvalidArgument for another format or if the tokenizer lacks
// <|im_start|>/<|im_end|>.
ChatPrompt make_context_qwen1(const Tokenizer& tok, std::string_view query, const std::vector<ChatTurn>& history,
                              std::string_view system = kDefaultSystemPrompt, int max_window_size = 6144,
                              std::string_view chat_format = "chatml");

// Qwen2/Qwen3 ChatML text: a system block first (messages[0] if it is a system message, else
// `default_system` unless empty), then "<|im_start|>{role}\n{content}<|im_end|>\n" per message, then
// "<|im_start|>assistant\n" when add_generation_prompt. strip_reasoning (Qwen3's template): an assistant
// message before the last user message shows only what follows its last "</think>" (leading newlines
// dropped), so earlier turns' thinking is not fed back. close_thinking (Qwen3's enable_thinking=false): the
// generation prompt ends with an empty "<think>\n\n</think>\n\n", so the model answers without thinking.
std::string render_chatml(const std::vector<ChatMessage>& messages,
                          std::string_view default_system = kDefaultSystemPrompt, bool add_generation_prompt = true,
                          bool strip_reasoning = false, bool close_thinking = false);

// render_chatml + encode with special tokens allowed (what apply_chat_template + tokenizer(text) do).
ChatPrompt encode_chatml(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                         std::string_view default_system = kDefaultSystemPrompt, bool strip_reasoning = false,
                         bool close_thinking = false);

// system + history turns + the new query as a message list.
std::vector<ChatMessage> chat_messages(std::string_view system, const std::vector<ChatTurn>& history,
                                       std::string_view query);

// What a tokenizer_config.json chat_template implies. is_chatml: it renders
// "<|im_start|>{role}\n{content}<|im_end|>\n" (so render_chatml reproduces it); default_system: the literal
// sentence it inserts when no system message is given (Qwen2's "You are a helpful assistant.", Qwen2.5's
// "You are Qwen, ..."), "" when it inserts none (Qwen3); strips_reasoning: it drops "<think>...</think>"
// from earlier assistant turns (Qwen3); thinking_switch: it honours enable_thinking=false (Qwen3).
struct ChatTemplateInfo {
  bool found = false;  // a chat_template was read
  bool is_chatml = false;
  std::string default_system;
  bool strips_reasoning = false;
  bool thinking_switch = false;
};
ChatTemplateInfo inspect_chat_template(std::string_view chat_template);
// Reads <dir>/tokenizer_config.json's chat_template, or a GGUF model file's tokenizer.chat_template
// (absent file or key: found false, all else empty).
ChatTemplateInfo chat_template_from_dir(const std::string& dir);

// When generation stops (spec C.2): any single stop id (eos ids, one-token stop words, and for ChatML
// the tokenizer's <|im_end|>, <|im_start|>, <|endoftext|>), or a multi-token stop sequence at the end.
struct StopRules {
  std::vector<int32_t> stop_ids;
  std::vector<std::vector<int32_t>> stop_sequences;  // length >= 2

  bool is_stop_id(int32_t id) const;
  // True when `generated` (ids produced so far) ends with a stop id or a stop sequence.
  bool should_stop(std::span<const int32_t> generated) const;
};
StopRules stop_rules(const Tokenizer& tok, const GenerationParams& params);

// Reply text from the generated ids: cut at the first stop id (or at the start of a trailing stop
// sequence), decode (invalid UTF-8 -> U+FFFD), Python-style strip().
std::string clean_reply(const Tokenizer& tok, std::span<const int32_t> generated, const StopRules& rules);

// Qwen1's own _decode_chatml, quirk included: cut at the first <|im_start|>/<|im_end|>; when there
// is none the last generated token is dropped too (e.g. a trailing <|endoftext|>). Then decode with
// U+FFFD replacement and strip(). Use it to reproduce model.chat() byte for byte.
std::string decode_chatml_qwen1(const Tokenizer& tok, std::span<const int32_t> generated);

}  // namespace dm
