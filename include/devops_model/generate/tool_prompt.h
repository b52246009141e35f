// Function calling in the model's own prompt format.
//  - Qwen2.5 / Qwen3 (ChatML): what their tokenizer_config.json chat_template renders when
//    apply_chat_template gets `tools`: the "# Tools" block (one JSON per tool inside <tools></tools>)
//    in the system turn, assistant calls as "<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>",
//    tool results as a user turn of "<tool_response>\n...\n</tool_response>" blocks (consecutive tool
//    messages share one turn). JSON is written as the templates' `tojson` filter writes it: Python's
//    json.dumps with ensure_ascii=False (", " and ": " separators, keys in the order given).
//  - Qwen1 / DevOps-Model: Qwen-7B-Chat's ReAct prompt as its openai_api.py builds it (parse_messages):
//    TOOL_DESC per tool, REACT_INSTRUCTION put before the last user question, assistant calls as
//    Thought / Action / Action Input, tool results as "Observation: ...", then make_context (or, when the
//    conversation ends with a tool result, the raw continuation prompt ending in "Thought:").
// Every function here is pure (no model); the server turns OpenAI requests into these types.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "devops_model/generate/chat_format.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

// One function the model may call, from an OpenAI `tools` entry ({"type": "function", "function": {...}}).
struct ToolSpec {
  std::string name;
  std::string description;  // "" when absent
  std::string parameters;   // JSON text of the parameters schema; "" when absent (no parameters)
  std::string source;       // JSON text of the whole `tools[i]` object as sent (key order kept): what
                            // the ChatML templates print
  // Qwen-7B-Chat's optional function fields (its openai_api.py reads them; "" = use name / description).
  std::string name_for_model, name_for_human, description_for_model;
};

// Python's json.dumps(json.loads(text), ensure_ascii=False): ", " / ": " separators, keys in their order,
// non-ASCII kept, floats as Python's repr (1.0, 1e-05, 1e+16). Error(kInvalidArgument) for invalid JSON.
std::string python_json_dumps(std::string_view json_text);

// Python's str.rstrip() and str.lstrip(chars) (whitespace as str.isspace(); lstrip of the given bytes).
std::string_view python_rstrip(std::string_view s);

// The ChatML prompt text with tools (an empty `tools` renders the templates' no-tools branch, still with
// tool_calls / tool messages in the history).
//   default_system: inserted when messages[0] is not a system message ("" = none: Qwen3).
//   qwen3: Qwen3's template rules: an assistant message after the last real user query (a user message
//     that is not wholly a <tool_response>) shows its reasoning as "<think>\n...\n</think>\n\n" when it
//     has any (or is the last message); one before it drops everything up to its last "</think>"; tool
//     call arguments that are not JSON are printed as they are (Qwen2.5: as a JSON string).
//   close_thinking: Qwen3's enable_thinking=false ("<think>\n\n</think>\n\n" after the generation prompt).
// Tool call arguments are parsed as JSON and written with tojson (the client sends a string; chat
// templates expect the object, which is what vLLM passes them).
std::string render_chatml_tools(const std::vector<ChatMessage>& messages, const std::vector<ToolSpec>& tools,
                                std::string_view default_system, bool qwen3, bool add_generation_prompt = true,
                                bool close_thinking = false);

// Qwen-7B-Chat's ReAct conversation (openai_api.py parse_messages): the last question (with the
// instruction when it goes there), the (query, reply) history and the system text. text_completion: the
// conversation ends with a tool result, so the model continues the last assistant turn after "Thought:".
// Multiple tool_calls in one assistant message become one Action step each, each followed by its result
// (the tool message with that tool_call_id, else the next unmatched one). Error(kInvalidArgument) with
// Qwen's messages for a conversation it refuses (no user message, a tool result with no assistant turn
// before it, a system message after the first, ...).
struct ReactConversation {
  std::string system;
  std::vector<ChatTurn> history;
  std::string query;
  bool text_completion = false;
};
ReactConversation qwen1_react_conversation(const std::vector<ChatMessage>& messages,
                                           const std::vector<ToolSpec>& tools);

// The instruction block alone (REACT_INSTRUCTION filled with the TOOL_DESC lines), "" without tools.
std::string qwen1_react_instruction(const std::vector<ToolSpec>& tools);

// The prompt: make_context_qwen1 (max_window_size applies), or for text_completion the continuation
// prompt of openai_api.py's text_complete_last_message (system + every turn, the last one left open),
// encoded with special tokens allowed.
ChatPrompt encode_qwen1_react(const Tokenizer& tok, const ReactConversation& c, int max_window_size);

// The stop word Qwen-7B-Chat's openai_api.py adds when functions are given.
inline constexpr std::string_view kReactStopWord = "Observation:";

}  // namespace dm
