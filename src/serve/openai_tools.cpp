#include "serve/openai_tools.h"

#include <random>
#include <set>

#include "devops_model/core/error.h"
#include "devops_model/generate/json_schema_grammar.h"

namespace dm {

using nlohmann::json;
using OJson = nlohmann::ordered_json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, "'" + param + "': " + message, param);
}

bool valid_function_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

// An optional string member; absent or null -> "".
template <typename J>
std::string opt_string(const J& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) bad(where + "." + key, "expected a string");
  return it->template get<std::string>();
}

std::string call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s = "call_";
  for (int i = 0; i < 24; ++i) s += kChars[rng() % 62];
  return s;
}

ToolSpec parse_tool(const OJson& t, const std::string& where) {
  if (!t.is_object()) bad(where, "expected an object {\"type\": \"function\", \"function\": {...}}");
  auto type = t.find("type");
  if (type == t.end() || type->is_null()) bad(where + ".type", "required (only \"function\" is supported)");
  if (!type->is_string() || type->get<std::string>() != "function")
    bad(where + ".type", "unsupported tool type " + type->dump() + " (only \"function\" is supported)");
  auto fn = t.find("function");
  if (fn == t.end() || !fn->is_object()) bad(where + ".function", "expected an object with name and parameters");
  const std::string fw = where + ".function";
  ToolSpec s;
  auto name = fn->find("name");
  if (name == fn->end() || !name->is_string()) bad(fw + ".name", "required, a string");
  s.name = name->get<std::string>();
  if (!valid_function_name(s.name))
    bad(fw + ".name", "'" + s.name + "' is not a valid function name (1 to 64 of a-z, A-Z, 0-9, _ and -)");
  s.description = opt_string(*fn, "description", fw);
  if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null()) {
    if (!p->is_object()) bad(fw + ".parameters", "expected a JSON schema object");
    if (auto ty = p->find("type"); ty != p->end() && !(ty->is_string() && ty->get<std::string>() == "object"))
      bad(fw + ".parameters", "the parameters schema must describe an object (\"type\": \"object\")");
    s.parameters = p->dump();
  }
  if (auto st = fn->find("strict"); st != fn->end() && !st->is_null() && !st->is_boolean())
    bad(fw + ".strict", "expected a boolean");
  s.name_for_model = opt_string(*fn, "name_for_model", fw);
  s.name_for_human = opt_string(*fn, "name_for_human", fw);
  s.description_for_model = opt_string(*fn, "description_for_model", fw);
  s.source = t.dump();
  return s;
}

}  // namespace

ToolRequest parse_tool_request(std::string_view body) {
  OJson j;
  try {
    j = OJson::parse(body);
  } catch (const OJson::exception& e) {
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  ToolRequest r;
  if (!j.is_object()) return r;
  for (const char* legacy : {"functions", "function_call"}) {
    if (auto it = j.find(legacy); it != j.end() && !it->is_null())
      bad(legacy, "the deprecated function-calling fields are not supported; send 'tools' and 'tool_choice'");
  }
  if (auto it = j.find("tools"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty()) bad("tools", "expected a non-empty list of tools");
    std::set<std::string> names;
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string where = "tools[" + std::to_string(i) + "]";
      r.tools.push_back(parse_tool((*it)[i], where));
      if (!names.insert(r.tools.back().name).second)
        bad(where + ".function.name", "duplicate function name '" + r.tools.back().name + "'");
    }
  }
  if (auto it = j.find("parallel_tool_calls"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) bad("parallel_tool_calls", "expected a boolean");
    r.parallel = it->get<bool>();
  }
  if (auto it = j.find("tool_choice"); it != j.end() && !it->is_null()) {
    const std::string usage =
        "expected \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": "
        "{\"name\": ...}}";
    if (it->is_string()) {
      const std::string c = it->get<std::string>();
      if (c == "auto") {
        r.choice = ToolChoice::kAuto;
      } else if (c == "none") {
        r.choice = ToolChoice::kNone;
      } else if (c == "required") {
        r.choice = ToolChoice::kRequired;
      } else {
        bad("tool_choice", "unknown value \"" + c + "\"; " + usage);
      }
    } else if (it->is_object()) {
      auto type = it->find("type");
      if (type == it->end() || !type->is_string() || type->get<std::string>() != "function")
        bad("tool_choice.type", "expected \"function\"");
      auto fn = it->find("function");
      if (fn == it->end() || !fn->is_object()) bad("tool_choice.function", "expected an object with a name");
      auto name = fn->find("name");
      if (name == fn->end() || !name->is_string()) bad("tool_choice.function.name", "required, a string");
      r.choice = ToolChoice::kNamed;
      r.named = name->get<std::string>();
      bool known = false;
      for (const auto& t : r.tools) known = known || t.name == r.named;
      if (!known) bad("tool_choice.function.name", "no function named '" + r.named + "' in 'tools'");
    } else {
      bad("tool_choice", usage);
    }
    if (r.forced() && r.tools.empty()) bad("tool_choice", "a required or named tool choice needs 'tools'");
  }
  // A forced call runs under a grammar built from the schemas: refuse what it cannot compile now.
  if (r.forced()) {
    for (size_t i = 0; i < r.tools.size(); ++i) {
      const ToolSpec& t = r.tools[i];
      if (t.parameters.empty() || (r.choice == ToolChoice::kNamed && t.name != r.named)) continue;
      try {
        json_schema_to_gbnf(t.parameters);
      } catch (const Error& e) {
        bad("tools[" + std::to_string(i) + "].function.parameters", e.what());
      }
    }
  }
  return r;
}

void parse_message_tool_fields(const json& m, const std::string& where, ChatMessage& out) {
  auto calls = m.find("tool_calls");
  if (calls != m.end() && !calls->is_null()) {
    if (out.role != "assistant") bad(where + ".tool_calls", "only assistant messages have tool_calls");
    if (!calls->is_array()) bad(where + ".tool_calls", "expected a list of tool calls");
    for (size_t k = 0; k < calls->size(); ++k) {
      const json& c = (*calls)[k];
      const std::string cw = where + ".tool_calls[" + std::to_string(k) + "]";
      if (!c.is_object()) bad(cw, "expected an object {\"id\", \"type\": \"function\", \"function\": {...}}");
      if (auto t = c.find("type"); t != c.end() && !t->is_null() && *t != "function")
        bad(cw + ".type", "only \"function\" tool calls are supported");
      auto fn = c.find("function");
      if (fn == c.end() || !fn->is_object()) bad(cw + ".function", "expected an object with name and arguments");
      ToolCall tc;
      tc.id = opt_string(c, "id", cw);
      auto name = fn->find("name");
      if (name == fn->end() || !name->is_string()) bad(cw + ".function.name", "required, a string");
      tc.name = name->get<std::string>();
      auto args = fn->find("arguments");
      if (args == fn->end() || args->is_null()) {
        tc.arguments = "{}";
      } else if (args->is_string()) {
        tc.arguments = args->get<std::string>();
      } else if (args->is_object()) {  // some clients send the object itself
        tc.arguments = args->dump();
      } else {
        bad(cw + ".function.arguments", "expected a JSON string");
      }
      out.tool_calls.push_back(std::move(tc));
    }
  }
  auto id = m.find("tool_call_id");
  if (id != m.end() && !id->is_null()) {
    if (out.role != "tool") bad(where + ".tool_call_id", "only tool messages have a tool_call_id");
    if (!id->is_string()) bad(where + ".tool_call_id", "expected a string");
    out.tool_call_id = id->get<std::string>();
  }
}

bool uses_tool_prompt(const ToolRequest& tr, const std::vector<ChatMessage>& messages) {
  if (!tr.tools.empty()) return true;
  for (const auto& m : messages)
    if (m.role == "tool" || !m.tool_calls.empty()) return true;
  return false;
}

ToolFormat tool_format(const Model& model) {
  return family_info(model.config()).chat_format == ChatFormat::kQwen1 ? ToolFormat::kReact : ToolFormat::kXml;
}

ChatPrompt build_tool_prompt(const Model& model, const Tokenizer& tok, const GenerationParams& params,
                             const std::vector<ChatMessage>& messages, const ToolRequest& tr,
                             const ChatTemplateInfo& style, bool enable_thinking) {
  if (tool_format(model) == ToolFormat::kReact)
    return encode_qwen1_react(tok, qwen1_react_conversation(messages, tr.tools), params.max_window_size);
  const bool qwen3 =
      model.config().architecture == "Qwen3ForCausalLM" || style.thinking_switch || style.strips_reasoning;
  const bool close_thinking = style.thinking_switch && (!enable_thinking || tr.forced());
  ChatPrompt p;
  p.raw_text = render_chatml_tools(messages, tr.tools, style.default_system, qwen3, true, close_thinking);
  p.tokens = tok.encode(p.raw_text, /*allow_special=*/true);
  return p;
}

std::vector<std::string> tool_stop_strings(ToolFormat format, const ToolRequest& tr) {
  if (format == ToolFormat::kReact && !tr.tools.empty()) return {std::string(kReactStopWord)};
  return {};
}

std::string tool_call_grammar(ToolFormat format, const ToolRequest& tr) {
  if (!tr.forced()) return "";
  std::vector<ToolSpec> allowed;
  for (const auto& t : tr.tools)
    if (tr.choice == ToolChoice::kRequired || t.name == tr.named) allowed.push_back(t);
  return forced_tool_call_gbnf(format, allowed, tr.parallel && tr.choice == ToolChoice::kRequired);
}

ParsedReply reply_tool_calls(ToolFormat format, const ToolRequest& tr, std::string_view text, FinishReason finish) {
  ParsedReply raw;
  raw.content = std::string(text);
  if (!tr.parses_calls()) {
    if (format != ToolFormat::kReact || tr.tools.empty()) return raw;
    ParsedReply p = parse_tool_reply(format, text);  // none: the Final Answer text, any Action left in
    if (!p.calls.empty()) return raw;
    p.has_content = true;
    return p;
  }
  ParsedReply p = parse_tool_reply(format, text, tr.forced() && finish == FinishReason::kLength);
  for (auto& c : p.calls)  // ReAct shows name_for_model where a tool has one
    for (const auto& t : tr.tools)
      if (!t.name_for_model.empty() && c.name == t.name_for_model) c.name = t.name;
  if (!tr.parallel && p.calls.size() > 1) p.calls.resize(1);
  return p;
}

namespace {

json tool_calls_json(const std::vector<ParsedToolCall>& calls) {
  json a = json::array();
  for (const auto& c : calls)
    a.push_back(
        {{"id", call_id()}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return a;
}

}  // namespace

json chat_tool_response(const ResponseMeta& m, const JobResult& r, ToolFormat format, const ToolRequest& tr) {
  json j = chat_response(m, r);
  const ParsedReply p = reply_tool_calls(format, tr, r.text, r.finish);
  json& choice = j["choices"][0];
  choice["message"]["content"] = p.has_content ? json(p.content) : json();
  if (!p.calls.empty()) {
    choice["message"]["tool_calls"] = tool_calls_json(p.calls);
    if (r.finish == FinishReason::kStop) choice["finish_reason"] = "tool_calls";
  }
  return j;
}

ToolDeltaStream::ToolDeltaStream(ResponseMeta meta, ToolFormat format, const ToolRequest& tr)
    : meta_(std::move(meta)),
      format_(format),
      tr_(tr),
      parser_(format),
      passthrough_(!tr.parses_calls() && !(format == ToolFormat::kReact && !tr.tools.empty())) {}

void ToolDeltaStream::emit(std::vector<ToolReplyStream::Event> events, std::vector<json>& out) {
  for (auto& e : events) {
    if (!e.is_call) {
      if (!e.text.empty()) out.push_back(stream_chunk_text(meta_, true, e.text));
      continue;
    }
    if (!tr_.parallel && calls_ >= 1) continue;
    for (const auto& t : tr_.tools)
      if (!t.name_for_model.empty() && e.call.name == t.name_for_model) e.call.name = t.name;
    json head = stream_chunk_text(meta_, true, "");
    head["choices"][0]["delta"] = {
        {"tool_calls", json::array({{{"index", calls_},
                                     {"id", call_id()},
                                     {"type", "function"},
                                     {"function", {{"name", e.call.name}, {"arguments", ""}}}}})}};
    out.push_back(std::move(head));
    json args = stream_chunk_text(meta_, true, "");
    args["choices"][0]["delta"] = {
        {"tool_calls", json::array({{{"index", calls_}, {"function", {{"arguments", e.call.arguments}}}}})}};
    out.push_back(std::move(args));
    ++calls_;
  }
}

std::vector<json> ToolDeltaStream::push(std::string_view text) {
  std::vector<json> out;
  if (passthrough_) {
    if (!text.empty()) out.push_back(stream_chunk_text(meta_, true, text));
  } else if (!tr_.parses_calls()) {
    react_text_ += text;  // ReAct with tool_choice none: the answer is known at the end
  } else {
    emit(parser_.push(text), out);
  }
  return out;
}

std::vector<json> ToolDeltaStream::finish(FinishReason f) {
  std::vector<json> out;
  if (!passthrough_ && !tr_.parses_calls()) {
    const ParsedReply p = reply_tool_calls(format_, tr_, react_text_);
    if (!p.content.empty()) out.push_back(stream_chunk_text(meta_, true, p.content));
  } else if (!passthrough_) {
    emit(parser_.finish(tr_.forced() && f == FinishReason::kLength), out);
  }
  json last = stream_chunk_finish(meta_, true, f);
  if (calls_ > 0 && f == FinishReason::kStop) last["choices"][0]["finish_reason"] = "tool_calls";
  out.push_back(std::move(last));
  return out;
}

}  // namespace dm
