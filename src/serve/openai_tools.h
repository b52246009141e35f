// OpenAI function calling on the wire (transport side of tool_prompt.h / tool_calls.h):
//  - request: `tools` (type "function": name, description, parameters schema, strict), `tool_choice`
//    (auto | none | required | {"type": "function", "function": {"name"}}), `parallel_tool_calls`, and
//    in `messages` the assistants' `tool_calls` and role "tool" messages (`tool_call_id`). Each bad field
//    is a 400 naming it; the legacy `functions` / `function_call` fields are refused the same way.
//  - the prompt in the model's own format, the extra stop word (ReAct: "Observation:") and, for
//    tool_choice required or a named function, the grammar that forces a well-formed call;
//  - the reply as OpenAI's message.tool_calls (ids "call_...", type "function", arguments a JSON string),
//    content null when there is only calls, finish_reason "tool_calls"; streamed: content deltas until a
//    call, then per call a delta with index, id, type, function.name and arguments "", then its
//    arguments delta.
// tool_choice "none" (as vLLM by default): the tools are still described in the prompt, but nothing is
// parsed as a call or forced: the reply is text (ReAct: the "Final Answer:" text when there is no Action).
// parallel_tool_calls false: at most one call (forced: the grammar allows one; auto: the first is kept).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "devops_model/generate/chat_format.h"
#include "devops_model/generate/tool_calls.h"
#include "devops_model/generate/tool_prompt.h"
#include "devops_model/model/model.h"
#include "serve/openai_api.h"

namespace dm {

enum class ToolChoice { kAuto, kNone, kRequired, kNamed };

struct ToolRequest {
  std::vector<ToolSpec> tools;
  ToolChoice choice = ToolChoice::kAuto;
  std::string named;     // kNamed: the function's name
  bool parallel = true;  // parallel_tool_calls
  bool forced() const { return choice == ToolChoice::kRequired || choice == ToolChoice::kNamed; }
  bool parses_calls() const { return !tools.empty() && choice != ToolChoice::kNone; }
};

// The tool fields of a chat request body (ApiError 400 naming the field). The body is read again with
// its key order kept, since the ChatML templates print each tool as it was sent.
ToolRequest parse_tool_request(std::string_view body);

// messages[i]'s tool_calls (assistant) and tool_call_id (tool) into `out` (ApiError 400 naming
// messages[i].tool_calls[k]... for a bad entry).
void parse_message_tool_fields(const nlohmann::json& message, const std::string& where, ChatMessage& out);

// Whether the chat needs the tool prompt: tools given, or tool calls / results in the history.
bool uses_tool_prompt(const ToolRequest& tr, const std::vector<ChatMessage>& messages);

// Qwen1 (ReAct) or the ChatML families (<tool_call>).
ToolFormat tool_format(const Model& model);

// The prompt with tools in the model's format. ChatML: Qwen3's rules when the model is a Qwen3 (or its
// template strips reasoning / has enable_thinking); a forced call closes the thinking block where the
// template has that switch (the grammar leaves no room for one). Error(kInvalidArgument) for a
// conversation the format refuses.
ChatPrompt build_tool_prompt(const Model& model, const Tokenizer& tok, const GenerationParams& params,
                             const std::vector<ChatMessage>& messages, const ToolRequest& tr,
                             const ChatTemplateInfo& style, bool enable_thinking);

// Extra stop strings: ReAct's "Observation:" when tools are given.
std::vector<std::string> tool_stop_strings(ToolFormat format, const ToolRequest& tr);

// GBNF forcing the reply to be a call (tool_choice required: any tool; named: that one), "" otherwise.
std::string tool_call_grammar(ToolFormat format, const ToolRequest& tr);

// The reply's calls and content. `finish` kLength with a forced call: the call cut short is returned
// with its arguments so far (finish_reason stays "length", as OpenAI's).
ParsedReply reply_tool_calls(ToolFormat format, const ToolRequest& tr, std::string_view text,
                             FinishReason finish = FinishReason::kStop);

// chat_response with the calls: message.content (null with calls and no text), message.tool_calls,
// finish_reason "tool_calls" when the reply stopped with calls.
nlohmann::json chat_tool_response(const ResponseMeta& m, const JobResult& r, ToolFormat format, const ToolRequest& tr);

// Streamed replies: text pieces in, SSE chunks out.
class ToolDeltaStream {
 public:
  ToolDeltaStream(ResponseMeta meta, ToolFormat format, const ToolRequest& tr);
  std::vector<nlohmann::json> push(std::string_view text);
  // The rest, and the final chunk (finish_reason "tool_calls" when calls were sent and it stopped).
  std::vector<nlohmann::json> finish(FinishReason f);
  int calls_sent() const { return calls_; }

 private:
  void emit(std::vector<ToolReplyStream::Event> events, std::vector<nlohmann::json>& out);

  ResponseMeta meta_;
  ToolFormat format_;
  const ToolRequest& tr_;
  ToolReplyStream parser_;
  bool passthrough_;  // tool_choice none with <tool_call>: text as it comes
  std::string react_text_;
  int calls_ = 0;
};

}  // namespace dm
