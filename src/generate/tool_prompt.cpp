#include "devops_model/generate/tool_prompt.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/tokenizer/unicode.h"

namespace dm {

using Json = nlohmann::ordered_json;

namespace {

// repr(float) of CPython (float_repr_style 'short'): the shortest digits that round-trip, positional
// when -4 < decimal point position <= 16, else d.ddde+XX; integral values keep ".0".
std::string python_float_repr(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "-1.2345e+20"
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int exp10 = std::atoi(sci.c_str() + e + 1);
  const int decpt = exp10 + 1;  // digits d1 d2 ... = 0.d1d2... x 10^decpt
  const int n = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return sign + "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    if (decpt >= n) return sign + digits + std::string(static_cast<size_t>(decpt - n), '0') + ".0";
    return sign + digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
  }
  std::string out = sign + digits.substr(0, 1);
  if (n > 1) out += "." + digits.substr(1);
  const int x = decpt - 1;
  out += x < 0 ? "e-" : "e+";
  const int ax = std::abs(x);
  if (ax < 10) out += "0";
  return out + std::to_string(ax);
}

void dump_python(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += Json(it.key()).dump();
        out += ": ";
        dump_python(it.value(), out);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& v : j) {
        if (!first) out += ", ";
        first = false;
        dump_python(v, out);
      }
      out += ']';
      return;
    }
    case Json::value_t::number_float: out += python_float_repr(j.get<double>()); return;
    default:  // strings (json.dumps escapes exactly what nlohmann does: " \ and C0 controls, \uXXXX lowercase)
      out += j.dump();
      return;
  }
}

std::string python_dumps(const Json& j) {
  std::string out;
  dump_python(j, out);
  return out;
}

Json parse_json(std::string_view text, const char* what) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    fail(ErrorKind::kInvalidArgument, what, " is not valid JSON: ", e.what());
  }
}

std::string_view lstrip_newlines(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_newlines(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// `{"name": "...", "arguments": ...}` body of one <tool_call> block, as both templates print it.
std::string tool_call_json(const ToolCall& c, bool qwen3) {
  std::string args;
  try {
    args = python_dumps(Json::parse(c.arguments));
  } catch (const Json::exception&) {
    args = qwen3 ? c.arguments : Json(c.arguments).dump();  // `is string`: as is (Qwen3) / tojson (Qwen2.5)
  }
  return str_cat("<tool_call>\n{\"name\": \"", c.name, "\", \"arguments\": ", args, "}\n</tool_call>");
}

}  // namespace

std::string python_json_dumps(std::string_view json_text) { return python_dumps(parse_json(json_text, "JSON")); }

std::string_view python_rstrip(std::string_view s) {
  const std::string_view core = python_strip(s);
  if (core.empty()) return s.substr(0, 0);
  return s.substr(0, static_cast<size_t>(core.data() - s.data()) + core.size());
}

std::string render_chatml_tools(const std::vector<ChatMessage>& messages, const std::vector<ToolSpec>& tools,
                                std::string_view default_system, bool qwen3, bool add_generation_prompt,
                                bool close_thinking) {
  std::string out;
  const bool has_system = !messages.empty() && messages[0].role == "system";
  if (!tools.empty()) {
    out += "<|im_start|>system\n";
    if (has_system) {
      out += messages[0].content + "\n\n";
    } else if (!default_system.empty()) {
      out += str_cat(default_system, "\n\n");
    }
    out +=
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
    for (const ToolSpec& t : tools) out += "\n" + python_dumps(parse_json(t.source, "tool"));
    out +=
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-json-object>}\n</tool_call><|im_end|>\n";
  } else if (has_system) {
    out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
  } else if (!default_system.empty()) {
    out += str_cat("<|im_start|>system\n", default_system, "<|im_end|>\n");
  }
  // Qwen3: the last user message that is a real query, not a wrapped tool result.
  size_t last_query = messages.empty() ? 0 : messages.size() - 1;
  for (size_t i = messages.size(); i-- > 0;) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" && !(starts_with(m.content, "<tool_response>") && ends_with(m.content, "</tool_response>"))) {
      last_query = i;
      break;
    }
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0) ||
        (!qwen3 && m.role == "assistant" && m.tool_calls.empty())) {
      out += str_cat("<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
    } else if (m.role == "assistant" && !qwen3) {
      out += "<|im_start|>assistant";
      if (!m.content.empty()) out += "\n" + m.content;
      for (const ToolCall& c : m.tool_calls) out += "\n" + tool_call_json(c, false);
      out += "<|im_end|>\n";
    } else if (m.role == "assistant") {
      std::string_view content = m.content, reasoning;
      const size_t close = content.find("</think>");
      if (close != std::string_view::npos) {
        std::string_view before = rstrip_newlines(content.substr(0, close));
        const size_t open = before.rfind("<think>");
        if (open != std::string_view::npos) before.remove_prefix(open + std::string_view("<think>").size());
        reasoning = lstrip_newlines(before);
        content = lstrip_newlines(content.substr(content.rfind("</think>") + std::string_view("</think>").size()));
      }
      if (i > last_query && (i + 1 == messages.size() || !reasoning.empty())) {
        out += str_cat("<|im_start|>assistant\n<think>\n", rstrip_newlines(lstrip_newlines(reasoning)),
                       "\n</think>\n\n", lstrip_newlines(content));
      } else {
        out += str_cat("<|im_start|>assistant\n", content);
      }
      for (size_t k = 0; k < m.tool_calls.size(); ++k) {
        if (k > 0 || !content.empty()) out += "\n";
        out += tool_call_json(m.tool_calls[k], true);
      }
      out += "<|im_end|>\n";
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + m.content + "\n</tool_response>";
      if (i + 1 == messages.size() || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }
    // A first system message is in the system block; other roles the templates skip.
  }
  if (add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (close_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

// ---- Qwen-7B-Chat ReAct ----

std::string qwen1_react_instruction(const std::vector<ToolSpec>& tools) {
  if (tools.empty()) return "";
  std::string tools_text, names;
  for (size_t i = 0; i < tools.size(); ++i) {
    const ToolSpec& t = tools[i];
    const std::string& name_m = t.name_for_model.empty() ? t.name : t.name_for_model;
    const std::string& name_h = t.name_for_human.empty() ? t.name : t.name_for_human;
    const std::string& desc_m = t.description_for_model.empty() ? t.description : t.description_for_model;
    const std::string params = t.parameters.empty() ? "{}" : python_dumps(parse_json(t.parameters, "parameters"));
    if (i > 0) {
      tools_text += "\n\n";
      names += ", ";
    }
    tools_text += str_cat(name_m, ": Call this tool to interact with the ", name_h, " API. What is the ", name_h,
                          " API useful for? ", desc_m, " Parameters: ", params);
    names += name_m;
  }
  const std::string instruction =
      str_cat("Answer the following questions as best you can. You have access to the following APIs:\n\n", tools_text,
              "\n\nUse the following format:\n\n"
              "Question: the input question you must answer\n"
              "Thought: you should always think about what to do\n"
              "Action: the action to take, should be one of [",
              names,
              "]\n"
              "Action Input: the input to the action\n"
              "Observation: the result of the action\n"
              "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
              "Thought: I now know the final answer\n"
              "Final Answer: the final answer to the original input question\n\n"
              "Begin!");
  return std::string(python_rstrip(lstrip_newlines(instruction)));
}

namespace {

// openai_api.py's message shape: role user/assistant/system/function, with an optional function_call.
struct LegacyMessage {
  std::string role;
  std::string content;
  bool has_call = false;
  std::string call_name = {}, call_args = {};
};

// OpenAI tool_calls / tool messages -> the function_call / function messages Qwen's code reads.
std::vector<LegacyMessage> to_legacy(const std::vector<ChatMessage>& messages) {
  std::vector<LegacyMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "assistant" && !m.tool_calls.empty()) {
      size_t end = i + 1;  // the tool results that follow
      while (end < messages.size() && messages[end].role == "tool") ++end;
      std::vector<bool> used(end - (i + 1), false);
      for (size_t k = 0; k < m.tool_calls.size(); ++k) {
        const ToolCall& c = m.tool_calls[k];
        out.push_back({"assistant", k == 0 ? m.content : "", true, c.name, c.arguments});
        size_t pick = used.size();
        for (size_t r = 0; r < used.size() && pick == used.size(); ++r)
          if (!used[r] && !c.id.empty() && messages[i + 1 + r].tool_call_id == c.id) pick = r;
        for (size_t r = 0; r < used.size() && pick == used.size(); ++r)
          if (!used[r] && (messages[i + 1 + r].tool_call_id.empty() ||
                           std::none_of(m.tool_calls.begin(), m.tool_calls.end(),
                                        [&](const ToolCall& x) { return x.id == messages[i + 1 + r].tool_call_id; })))
            pick = r;
        if (pick < used.size()) {
          used[pick] = true;
          out.push_back({"function", messages[i + 1 + pick].content});
        }
      }
      for (size_t r = 0; r < used.size(); ++r)
        if (!used[r]) out.push_back({"function", messages[i + 1 + r].content});
      i = end - 1;
    } else {
      out.push_back({m.role == "tool" ? "function" : m.role, m.content});
    }
  }
  return out;
}

std::string strip_lr(std::string_view s) { return std::string(python_rstrip(lstrip_newlines(s))); }

[[noreturn]] void refuse(std::string_view detail) { fail(ErrorKind::kInvalidArgument, detail); }

}  // namespace

ReactConversation qwen1_react_conversation(const std::vector<ChatMessage>& input, const std::vector<ToolSpec>& tools) {
  std::vector<LegacyMessage> legacy = to_legacy(input);
  if (std::none_of(legacy.begin(), legacy.end(), [](const LegacyMessage& m) { return m.role == "user"; }))
    refuse("Invalid request: Expecting at least one user message.");
  ReactConversation c;
  if (legacy[0].role == "system") {
    c.system = strip_lr(legacy[0].content);
    legacy.erase(legacy.begin());
  } else {
    c.system = std::string(kDefaultSystemPrompt);
  }
  std::string instruction = qwen1_react_instruction(tools);
  std::vector<LegacyMessage> msgs;
  for (size_t idx = 0; idx < legacy.size(); ++idx) {
    const LegacyMessage& m = legacy[idx];
    std::string content = strip_lr(m.content);
    if (m.role == "function") {
      if (msgs.empty() || msgs.back().role != "assistant")
        refuse("Invalid request: Expecting role assistant before role function.");
      msgs.back().content += "\nObservation: " + content;
      if (idx + 1 == legacy.size()) msgs.back().content += "\nThought:";
    } else if (m.role == "assistant") {
      if (msgs.empty()) refuse("Invalid request: Expecting role user before role assistant.");
      if (!m.has_call) {
        if (!tools.empty()) content = "Thought: I now know the final answer.\nFinal Answer: " + content;
      } else {
        if (!starts_with(content, "Thought:")) content = "Thought: " + content;
        content = str_cat(content, "\nAction: ", m.call_name, "\nAction Input: ", m.call_args);
      }
      if (msgs.back().role == "user") {
        msgs.push_back({"assistant", strip_lr(content)});
      } else {
        msgs.back().content += "\n" + content;
      }
    } else if (m.role == "user") {
      msgs.push_back({"user", strip_lr(content)});
    } else {
      refuse(str_cat("Invalid request: Incorrect role ", m.role, "."));
    }
  }
  if (msgs.back().role == "user") {
    c.query = msgs.back().content;
    msgs.pop_back();
  } else {
    c.text_completion = true;
  }
  if (msgs.size() % 2 != 0) refuse("Invalid request");
  for (size_t i = 0; i < msgs.size(); i += 2) {
    if (msgs[i].role != "user" || msgs[i + 1].role != "assistant")
      refuse("Invalid request: Expecting exactly one user (or function) role before every assistant role.");
    std::string usr = strip_lr(msgs[i].content);
    const std::string bot = strip_lr(msgs[i + 1].content);
    if (!instruction.empty() && i + 2 == msgs.size()) {
      usr = instruction + "\n\nQuestion: " + usr;
      instruction.clear();
    }
    c.history.push_back({usr, bot});
  }
  if (!instruction.empty()) c.query = instruction + "\n\nQuestion: " + c.query;
  return c;
}

ChatPrompt encode_qwen1_react(const Tokenizer& tok, const ReactConversation& c, int max_window_size) {
  if (!c.text_completion) return make_context_qwen1(tok, c.query, c.history, c.system, max_window_size);
  std::string prompt = str_cat("<|im_start|>system\n", c.system, "<|im_end|>");
  for (const ChatTurn& t : c.history) {
    prompt += str_cat("\n<|im_start|>user\n", strip_lr(t.query), "<|im_end|>");
    prompt += str_cat("\n<|im_start|>assistant\n", strip_lr(t.reply), "<|im_end|>");
  }
  prompt.resize(prompt.size() - std::string_view("<|im_end|>").size());
  ChatPrompt p;
  p.raw_text = prompt;
  p.tokens = tok.encode(prompt, /*allow_special=*/true);
  return p;
}

}  // namespace dm
