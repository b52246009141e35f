#include "serve/openai_api.h"

#include <chrono>
#include <random>

#include "serve/openai_tools.h"

namespace dm {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, param.empty() ? message : "'" + param + "': " + message, param);
}

json parse_body(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) bad("", "request body must be a JSON object");
  return j;
}

// Field helpers: absent or null -> nullopt; present with the wrong type -> 400 naming the field.
std::optional<double> opt_number(const json& j, const char* key, double lo, double hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) bad(key, "expected a number, got " + std::string(it->type_name()));
  double v = it->get<double>();
  if (!(v >= lo && v <= hi)) bad(key, "must be between " + json(lo).dump() + " and " + json(hi).dump());
  return v;
}

std::optional<long long> opt_integer(const json& j, const char* key, long long lo, long long hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) bad(key, "expected an integer, got " + std::string(it->type_name()));
  long long v = it->is_number_unsigned() ? static_cast<long long>(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX))
                                         : it->get<long long>();
  if (v < lo || v > hi) bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

// A boolean field; `param` names it in the error (default: the key).
std::optional<bool> opt_bool_field(const json& j, const char* key, const std::string& param = "") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) bad(param.empty() ? key : param, "expected a boolean, got " + std::string(it->type_name()));
  return it->get<bool>();
}

bool opt_bool(const json& j, const char* key) { return opt_bool_field(j, key).value_or(false); }

// Message content: a string, null, or a list of {"type":"text","text":...} parts.
std::string content_text(const json& c, const std::string& where) {
  if (c.is_null()) return "";
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(where, "expected a string or a list of text parts");
  std::string out;
  for (const auto& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      bad(where, "only {\"type\": \"text\", \"text\": ...} parts are supported");
    out += part["text"].get<std::string>();
  }
  return out;
}

void parse_common(const json& j, ApiRequest& r) {
  if (auto it = j.find("model"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) bad("model", "expected a string");
    r.model = it->get<std::string>();
  }
  r.stream = opt_bool(j, "stream");
  r.ignore_eos = opt_bool(j, "ignore_eos");
  r.enable_thinking = opt_bool_field(j, "enable_thinking").value_or(true);
  if (auto it = j.find("chat_template_kwargs"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) bad("chat_template_kwargs", "expected an object");
    if (auto on = opt_bool_field(*it, "enable_thinking", "chat_template_kwargs.enable_thinking"))
      r.enable_thinking = *on;
  }
  if (auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) bad("stream_options", "expected an object");
    r.include_usage = opt_bool(*it, "include_usage");
  }
  r.temperature = opt_number(j, "temperature", 0.0, 2.0);
  r.top_p = opt_number(j, "top_p", 0.0, 1.0);
  if (r.top_p && *r.top_p <= 0.0) bad("top_p", "must be greater than 0");
  r.repetition_penalty = opt_number(j, "repetition_penalty", 1e-3, 100.0);
  if (auto k = opt_integer(j, "top_k", 0, 1 << 30)) r.top_k = static_cast<int>(*k);
  auto mt = opt_integer(j, "max_completion_tokens", 1, 1 << 30);
  if (auto m = opt_integer(j, "max_tokens", 1, 1 << 30)) mt = m;
  if (mt) r.max_tokens = static_cast<int>(*mt);
  if (auto s = opt_integer(j, "seed", INT64_MIN, INT64_MAX)) r.seed = static_cast<uint64_t>(*s);
  if (auto n = opt_integer(j, "n", 1, 1 << 30); n && *n != 1) bad("n", "only n = 1 is supported");
  if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      r.stop.push_back(it->get<std::string>());
    } else if (it->is_array() && it->size() <= 4) {
      for (const auto& s : *it) {
        if (!s.is_string()) bad("stop", "expected a string or a list of up to 4 strings");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      bad("stop", "expected a string or a list of up to 4 strings");
    }
  }
}

std::string random_hex(int n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

}  // namespace

ApiRequest parse_chat_request(std::string_view body) {
  json j = parse_body(body);
  ApiRequest r;
  r.chat = true;
  parse_common(j, r);
  r.structured = parse_structured_fields(body, j, r.chat);
  auto it = j.find("messages");
  if (it == j.end()) bad("messages", "required");
  if (!it->is_array() || it->empty()) bad("messages", "expected a non-empty list of messages");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(where, "expected an object with role and content");
    if (!m.contains("role") || !m["role"].is_string()) bad(where + ".role", "expected a string");
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";  // newer clients' name for the system role
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      bad(where + ".role", "unknown role '" + role + "' (expected system, user, assistant or tool)");
    r.messages.push_back({role, content_text(m.value("content", json()), where + ".content")});
    parse_message_tool_fields(m, where, r.messages.back());  // openai_tools.cpp
  }
  return r;
}

ApiRequest parse_completion_request(std::string_view body) {
  json j = parse_body(body);
  ApiRequest r;
  r.chat = false;
  parse_common(j, r);
  r.structured = parse_structured_fields(body, j, r.chat);
  auto it = j.find("prompt");
  if (it == j.end()) bad("prompt", "required");
  if (it->is_string()) {
    r.prompt = it->get<std::string>();
  } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    r.prompt = (*it)[0].get<std::string>();
  } else {
    bad("prompt", "expected a string (or a list of one string)");
  }
  if (r.prompt.empty()) bad("prompt", "must not be empty");
  return r;
}

GenerationParams request_params(const ApiRequest& req, GenerationParams p) {
  if (req.temperature) {
    p.temperature = *req.temperature;
    p.do_sample = *req.temperature > 0.0;
  }
  if (req.top_p) p.top_p = *req.top_p;
  if (req.top_k) p.top_k = *req.top_k;
  if (req.repetition_penalty) p.repetition_penalty = *req.repetition_penalty;
  if (req.max_tokens) p.max_new_tokens = *req.max_tokens;
  p.seed = req.seed ? *req.seed : std::random_device{}();
  return p;
}

json error_body(const std::string& message, const std::string& type, const std::string& param,
                const std::string& code) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json() : json(param)},
            {"code", code.empty() ? json() : json(code)}}}};
}

ResponseMeta new_response_meta(bool chat, const std::string& model) {
  ResponseMeta m;
  m.id = (chat ? "chatcmpl-" : "cmpl-") + random_hex(24);
  m.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  m.model = model;
  return m;
}

json usage_json(const JobResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens}};
}

static json finish_json(FinishReason f) { return f == FinishReason::kCancelled ? json() : json(finish_reason_name(f)); }

static json base(const ResponseMeta& m, const char* object) {
  return {{"id", m.id}, {"object", object}, {"created", m.created}, {"model", m.model}};
}

json chat_response(const ResponseMeta& m, const JobResult& r) {
  json j = base(m, "chat.completion");
  j["choices"] = json::array({{{"index", 0},
                               {"message", {{"role", "assistant"}, {"content", r.text}}},
                               {"logprobs", nullptr},
                               {"finish_reason", finish_json(r.finish)}}});
  j["usage"] = usage_json(r);
  return j;
}

json completion_response(const ResponseMeta& m, const JobResult& r) {
  json j = base(m, "text_completion");
  j["choices"] =
      json::array({{{"index", 0}, {"text", r.text}, {"logprobs", nullptr}, {"finish_reason", finish_json(r.finish)}}});
  j["usage"] = usage_json(r);
  return j;
}

json chat_chunk_role(const ResponseMeta& m) {
  json j = base(m, "chat.completion.chunk");
  j["choices"] = json::array({{{"index", 0},
                               {"delta", {{"role", "assistant"}, {"content", ""}}},
                               {"logprobs", nullptr},
                               {"finish_reason", nullptr}}});
  return j;
}

json stream_chunk_text(const ResponseMeta& m, bool chat, std::string_view text) {
  json j = base(m, chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (chat) {
    choice["delta"] = {{"content", std::string(text)}};
  } else {
    choice["text"] = std::string(text);
  }
  j["choices"] = json::array({choice});
  return j;
}

json stream_chunk_finish(const ResponseMeta& m, bool chat, FinishReason f) {
  json j = base(m, chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_json(f)}};
  if (chat) {
    choice["delta"] = json::object();
  } else {
    choice["text"] = "";
  }
  j["choices"] = json::array({choice});
  return j;
}

json stream_chunk_usage(const ResponseMeta& m, bool chat, const JobResult& r) {
  json j = base(m, chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array();
  j["usage"] = usage_json(r);
  return j;
}

std::string sse_event(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

json models_list(const std::string& model, long long created) {
  return {{"object", "list"},
          {"data",
           json::array({{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "devops-model"}}})}};
}

}  // namespace dm
