#include "serve/response_format.h"

#include <algorithm>
#include <cstdint>
#include <list>
#include <mutex>
#include <utility>

#include "devops_model/core/error.h"
#include "devops_model/generate/grammar.h"
#include "devops_model/generate/json_schema_grammar.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/unicode.h"
#include "serve/openai_api.h"

namespace dm {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, "'" + param + "': " + message, param);
}

bool present(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && !it->is_null();
}

ResponseFormat parse_response_format(std::string_view body, const json& j) {
  ResponseFormat f;
  auto it = j.find("response_format");
  if (it == j.end() || it->is_null()) return f;
  const json& rf = *it;
  if (!rf.is_object()) bad("response_format", "expected an object with a type");
  auto type = rf.find("type");
  if (type == rf.end() || !type->is_string())
    bad("response_format", "'type' must be one of \"text\", \"json_object\", \"json_schema\"");
  const std::string t = type->get<std::string>();
  if (t == "text") return f;
  if (t == "json_object") {
    f.type = ResponseFormat::Type::kJsonObject;
    return f;
  }
  if (t != "json_schema")
    bad("response_format", "unsupported type '" + t + "' (expected \"text\", \"json_object\" or \"json_schema\")");
  f.type = ResponseFormat::Type::kJsonSchema;
  auto js = rf.find("json_schema");
  if (js == rf.end() || !js->is_object())
    bad("response_format", "type \"json_schema\" needs a 'json_schema' object with 'name' and 'schema'");
  if (auto n = js->find("name"); n != js->end() && !n->is_null()) {
    if (!n->is_string()) bad("response_format", "'json_schema.name' must be a string");
    f.name = n->get<std::string>();
  }
  if (auto s = js->find("strict"); s != js->end() && !s->is_null()) {
    if (!s->is_boolean()) bad("response_format", "'json_schema.strict' must be a boolean");
    f.strict = s->get<bool>();
  }
  auto schema = js->find("schema");
  if (schema == js->end() || schema->is_null()) bad("response_format", "'json_schema.schema' is required");
  if (!schema->is_object() && !schema->is_boolean())
    bad("response_format", "'json_schema.schema' must be a JSON schema object");
  // The schema's text with its keys in the request's order (properties are generated in declared order).
  const auto ordered = nlohmann::ordered_json::parse(body);
  f.schema = ordered["response_format"]["json_schema"]["schema"].dump();
  return f;
}

int parse_logprobs(const json& j, bool chat) {
  if (!chat) {  // completions (legacy): logprobs is the number of alternatives, at most 5
    auto it = j.find("logprobs");
    if (it == j.end() || it->is_null()) return -1;
    if (!it->is_number_integer()) bad("logprobs", "expected an integer between 0 and 5");
    const long long n = it->is_number_unsigned() ? static_cast<long long>(std::min<uint64_t>(it->get<uint64_t>(), 6))
                                                 : it->get<long long>();
    if (n < 0 || n > 5) bad("logprobs", "must be between 0 and 5");
    return static_cast<int>(n);
  }
  bool on = false;
  if (auto it = j.find("logprobs"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) bad("logprobs", "expected a boolean, got " + std::string(it->type_name()));
    on = it->get<bool>();
  }
  int top = 0;
  if (auto it = j.find("top_logprobs"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) bad("top_logprobs", "expected an integer between 0 and 20");
    const long long n = it->is_number_unsigned()
                            ? static_cast<long long>(std::min<uint64_t>(it->get<uint64_t>(), kMaxTopLogprobs + 1))
                            : it->get<long long>();
    if (n < 0 || n > kMaxTopLogprobs) bad("top_logprobs", "must be between 0 and 20");
    if (!on) bad("top_logprobs", "'logprobs' must be true when 'top_logprobs' is given");
    top = static_cast<int>(n);
  }
  return on ? top : -1;
}

// Fields of OpenAI's API that this server recognises but does not implement: refused rather than ignored,
// so a client never gets a reply that silently disregards what it asked for. Neutral values pass (an empty
// logit_bias, penalties of 0, modalities ["text"], best_of 1, echo false, an empty suffix).
void refuse_unsupported(const json& j, bool chat) {
  auto refuse = [](const char* key, const std::string& what) { bad(key, what + " is not supported by this server"); };
  if (auto it = j.find("logit_bias"); it != j.end() && !it->is_null() && !(it->is_object() && it->empty()))
    refuse("logit_bias", "logit_bias");
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number()) bad(key, "expected a number, got " + std::string(it->type_name()));
    if (it->get<double>() != 0.0)
      bad(key, "only 0 is supported (use repetition_penalty, as in the model's generation_config)");
  }
  if (chat) {
    if (present(j, "functions")) refuse("functions", "the deprecated 'functions' (use 'tools')");
    if (present(j, "function_call")) refuse("function_call", "the deprecated 'function_call' (use 'tool_choice')");
    if (present(j, "audio")) refuse("audio", "audio output");
    if (present(j, "prediction")) refuse("prediction", "predicted output");
    if (present(j, "web_search_options")) refuse("web_search_options", "web search");
    if (auto it = j.find("modalities"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) bad("modalities", "expected a list");
      for (const auto& m : *it)
        if (m != "text") refuse("modalities", "output modality " + m.dump());
    }
  } else {
    if (auto it = j.find("suffix"); it != j.end() && !it->is_null() && !(it->is_string() && it->get_ref<const std::string&>().empty()))
      refuse("suffix", "suffix (insertion)");
    if (auto it = j.find("echo"); it != j.end() && !it->is_null()) {
      if (!it->is_boolean()) bad("echo", "expected a boolean");
      if (it->get<bool>()) refuse("echo", "echo");
    }
    if (auto it = j.find("best_of"); it != j.end() && !it->is_null()) {
      if (!it->is_number_integer()) bad("best_of", "expected an integer");
      if (it->get<long long>() != 1) bad("best_of", "only best_of = 1 is supported");
    }
  }
}

// The process-wide schema -> grammar cache, least recently used first out.
struct GrammarCache {
  std::mutex mu;
  std::list<std::pair<std::string, std::shared_ptr<const Grammar>>> lru;  // most recently used first
  GrammarCacheStats stats;
};

GrammarCache& grammar_cache() {
  static GrammarCache c;
  return c;
}

}  // namespace

StructuredFields parse_structured_fields(std::string_view body, const json& j, bool chat) {
  refuse_unsupported(j, chat);
  StructuredFields s;
  s.response_format = parse_response_format(body, j);
  s.logprobs = parse_logprobs(j, chat);
  return s;
}

std::shared_ptr<const Grammar> response_format_grammar(const ResponseFormat& f) {
  if (f.type == ResponseFormat::Type::kText) return nullptr;
  if (f.type == ResponseFormat::Type::kJsonObject) {
    static const auto any_object = std::make_shared<const Grammar>(json_object_grammar());
    return any_object;
  }
  GrammarCache& c = grammar_cache();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    for (auto it = c.lru.begin(); it != c.lru.end(); ++it) {
      if (it->first == f.schema) {
        c.lru.splice(c.lru.begin(), c.lru, it);
        ++c.stats.hits;
        return c.lru.front().second;
      }
    }
  }
  std::shared_ptr<const Grammar> g;
  try {  // outside the lock: a large schema must not hold up requests with other schemas
    g = std::make_shared<const Grammar>(json_schema_grammar(f.schema));
  } catch (const Error& e) {
    throw ApiError(400, std::string("'response_format': ") + e.what(), "response_format");
  }
  std::lock_guard<std::mutex> lk(c.mu);
  ++c.stats.compiles;
  c.lru.emplace_front(f.schema, g);
  if (c.lru.size() > kGrammarCacheSize) c.lru.pop_back();
  return g;
}

GrammarCacheStats grammar_cache_stats() {
  GrammarCache& c = grammar_cache();
  std::lock_guard<std::mutex> lk(c.mu);
  GrammarCacheStats s = c.stats;
  s.entries = c.lru.size();
  return s;
}

namespace {

json bytes_json(std::string_view b) {
  json a = json::array();
  for (char ch : b) a.push_back(static_cast<int>(static_cast<unsigned char>(ch)));
  return a;
}

size_t code_points(std::string_view valid_utf8) {
  size_t n = 0;
  for (char ch : valid_utf8) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

}  // namespace

json chat_logprobs_json(const Tokenizer& tok, std::span<const TokenLogprob> lps) {
  json content = json::array();
  for (const TokenLogprob& lp : lps) {
    const std::string b = tok.token_bytes(lp.id);
    json top = json::array();
    for (const auto& [id, v] : lp.top) {
      const std::string tb = tok.token_bytes(id);
      top.push_back({{"token", utf8_replace_invalid(tb)}, {"logprob", v}, {"bytes", bytes_json(tb)}});
    }
    content.push_back(
        {{"token", utf8_replace_invalid(b)}, {"logprob", lp.logprob}, {"bytes", bytes_json(b)}, {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json completion_logprobs_json(const Tokenizer& tok, std::span<const TokenLogprob> lps, size_t& offset) {
  json tokens = json::array(), values = json::array(), tops = json::array(), offsets = json::array();
  for (const TokenLogprob& lp : lps) {
    const std::string text = utf8_replace_invalid(tok.token_bytes(lp.id));
    tokens.push_back(text);
    values.push_back(lp.logprob);
    offsets.push_back(offset);
    offset += code_points(text);
    json top = json::object();  // keys are token texts: the first (likeliest) of tokens with the same text wins
    for (const auto& [id, v] : lp.top) {
      const std::string t = utf8_replace_invalid(tok.token_bytes(id));
      if (!top.contains(t)) top[t] = v;
    }
    if (!top.contains(text)) top[text] = lp.logprob;  // the sampled token is always listed
    tops.push_back(std::move(top));
  }
  return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

void set_choice_logprobs(json& response, const Tokenizer& tok, bool chat, std::span<const TokenLogprob> lps,
                         size_t& offset) {
  response["choices"][0]["logprobs"] =
      chat ? chat_logprobs_json(tok, lps) : completion_logprobs_json(tok, lps, offset);
}

}  // namespace dm
