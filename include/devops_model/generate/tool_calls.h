// Tool calls in a model's reply, and grammars that force them.
//  - kXml (Qwen2.5 / Qwen3): "<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>" blocks. A block
//    whose body is not a JSON object with a string "name" (and "arguments", default {}) stays plain text,
//    as does an unclosed one. Arguments are re-serialised as the templates write JSON (", " / ": ").
//  - kReact (Qwen1 / DevOps-Model): Qwen-7B-Chat's openai_api.py parse_response: "\nAction: NAME" then
//    "\nAction Input: ARGS" (ARGS up to "\nObservation:" or the end, stripped, kept as written); the
//    content is the text before the Action with everything up to "Thought: " removed; without a call, the
//    text after the last "\nFinal Answer: ". One difference: an "Action:" / "Final Answer: " at the very
//    start of the reply counts too (Qwen's code needs a newline before it).
// Content: the text outside the calls; with calls, whitespace next to a call is dropped and an empty
// content is none (OpenAI's null). Without calls the text is returned unchanged (kXml) or as above (kReact).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "devops_model/generate/tool_prompt.h"

namespace dm {

enum class ToolFormat { kXml, kReact };

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // JSON text (kReact: as the model wrote it)
  bool operator==(const ParsedToolCall&) const = default;
};

struct ParsedReply {
  bool has_content = true;  // false: OpenAI's null
  std::string content;
  std::vector<ParsedToolCall> calls;
};

// `cut_off`: the reply was cut short (max_tokens) inside a call that a grammar forced (kXml). The unclosed
// last call is then returned too, with the arguments as far as they came (OpenAI's behaviour for a call
// cut off by finish_reason "length"); without it an unclosed call stays text.
ParsedReply parse_tool_reply(ToolFormat format, std::string_view text, bool cut_off = false);

// The same parse over streamed text. push() returns what can be sent now: text deltas (never text that
// could still turn out to be part of a call) and whole calls once they are closed and parse; finish()
// the rest. The text deltas concatenate to parse_tool_reply's content and the calls are its calls.
// kXml streams text up to a "<tool_call>"; kReact holds everything until finish() (its content depends
// on the end of the reply).
class ToolReplyStream {
 public:
  explicit ToolReplyStream(ToolFormat format) : format_(format) {}
  struct Event {
    bool is_call = false;
    std::string text;     // !is_call
    ParsedToolCall call;  // is_call
  };
  std::vector<Event> push(std::string_view piece);
  std::vector<Event> finish(bool cut_off = false);  // cut_off: as parse_tool_reply's

 private:
  void release(std::string_view text, std::vector<Event>& out);
  void close_call(std::string_view inner, std::vector<Event>& out);

  ToolFormat format_;
  bool in_call_ = false;
  bool strip_leading_ = false;  // right after a call: its following whitespace is dropped
  std::string pending_;         // kXml: text not yet released (a possible tag start, or a call's body)
  std::string ws_;              // whitespace held back: dropped if a call follows
  std::string all_;             // kReact: the whole reply
};

// GBNF for a reply that is nothing but calls to `allowed` (several: any of them), each call's arguments
// matching its tool's parameters schema (json_schema_grammar.h; no parameters: {}). kXml: one call, or
// with `parallel` one or more, one per line; kReact: "Thought: " (at most 256 characters, no newline),
// then the Action and Action Input. Tool names must be [A-Za-z0-9_-]+. Error(kInvalidArgument) from the
// schema compiler for a schema it cannot compile, prefixed with "tool NAME: ".
std::string forced_tool_call_gbnf(ToolFormat format, const std::vector<ToolSpec>& allowed, bool parallel);

}  // namespace dm
