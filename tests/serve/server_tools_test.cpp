// Function calling over HTTP with the tiny random fixture models: a forced call (tool_choice a named
// function or "required") always comes back as a well-formed call whose arguments parse and match the
// tool's schema, over many seeds, whole and streamed; Qwen1's ReAct format too; tool history accepted;
// bad tool fields refused with 400s naming them.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/generate/generation_params.h"
#include "devops_model/serve/server.h"
#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;

struct ToolServer {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Server> server;
  explicit ToolServer(const std::string& dir) {
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
    ServerOptions o;
    o.port = 0;
    o.access_log = [](const std::string&) {};
    server = std::make_unique<Server>(*model, *tok, generation_params_from_dir(dir), o);
    server->start();
  }
  httplib::Result post(const json& body) const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(120);
    return c.Post("/v1/chat/completions", body.dump(), "application/json");
  }
};

// The JSON schema subset the test schemas use: type, properties, required (no other keys), enum,
// items, maxItems, maxLength.
bool validates(const json& v, const json& s, std::string& why) {
  if (s.contains("enum")) {
    for (const auto& e : s["enum"])
      if (e == v) return true;
    why = v.dump() + " not in enum";
    return false;
  }
  const std::string type = s.value("type", "");
  if (type == "object") {
    if (!v.is_object()) return why = v.dump() + " is not an object", false;
    for (const auto& r : s.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return why = "missing " + r.dump(), false;
    for (const auto& [k, x] : v.items()) {
      if (!s["properties"].contains(k)) return why = "unexpected key " + k, false;
      if (!validates(x, s["properties"][k], why)) return false;
    }
    return true;
  }
  if (type == "array") {
    if (!v.is_array()) return why = v.dump() + " is not an array", false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return why = "too many items", false;
    for (const auto& x : v)
      if (!validates(x, s["items"], why)) return false;
    return true;
  }
  if (type == "string") {
    if (!v.is_string()) return why = v.dump() + " is not a string", false;
    return true;  // maxLength counts code points; the grammar bounds it, the parse is what matters here
  }
  if (type == "integer") return v.is_number_integer() ? true : (why = v.dump() + " is not an integer", false);
  if (type == "number") return v.is_number() ? true : (why = v.dump() + " is not a number", false);
  if (type == "boolean") return v.is_boolean() ? true : (why = v.dump() + " is not a boolean", false);
  why = "unknown schema " + s.dump();
  return false;
}

const json kWeatherSchema = json::parse(R"({"type": "object", "properties": {
    "city": {"type": "string", "maxLength": 12},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3},
    "exact": {"type": "boolean"}},
  "required": ["city", "unit"]})");
const json kKubectlSchema = json::parse(R"({"type": "object", "properties": {
    "verb": {"type": "string", "enum": ["get", "describe", "logs"]},
    "namespace": {"type": "string", "maxLength": 10}},
  "required": ["verb"]})");

json tools_json() {
  return json::array(
      {{{"type", "function"},
        {"function", {{"name", "get_weather"}, {"description", "Weather in a city"}, {"parameters", kWeatherSchema}}}},
       {{"type", "function"},
        {"function", {{"name", "run_kubectl"}, {"description", "Run kubectl"}, {"parameters", kKubectlSchema}}}}});
}

json forced_request(const json& tool_choice, uint64_t seed) {
  return {{"messages", {{{"role", "user"}, {"content", "Weather in Paris, and pods?"}}}},
          {"tools", tools_json()},
          {"tool_choice", tool_choice},
          {"parallel_tool_calls", false},
          {"temperature", 1.0},
          {"top_p", 1.0},
          {"seed", seed},
          {"max_tokens", 600}};
}

void expect_valid_call(const std::string& name, const std::string& arguments, const std::string& want_name,
                       const std::string& where) {
  if (!want_name.empty()) {
    EXPECT_EQ(name, want_name) << where;
  }
  const json& schema = name == "get_weather" ? kWeatherSchema : kKubectlSchema;
  json args;
  ASSERT_NO_THROW(args = json::parse(arguments)) << where << ": " << arguments;
  std::string why;
  EXPECT_TRUE(validates(args, schema, why)) << where << ": " << arguments << ": " << why;
}

void forced_calls_whole(const ToolServer& s, const json& choice, const std::string& want_name, int seeds) {
  for (int seed = 1; seed <= seeds; ++seed) {
    const std::string where = "seed " + std::to_string(seed);
    auto res = s.post(forced_request(choice, static_cast<uint64_t>(seed)));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json j = json::parse(res->body);
    const json& c = j["choices"][0];
    EXPECT_EQ(c["finish_reason"], "tool_calls") << where << ": " << res->body;
    ASSERT_EQ(c["message"]["tool_calls"].size(), 1u) << where << ": " << res->body;
    const json& call = c["message"]["tool_calls"][0];
    EXPECT_EQ(call["type"], "function");
    EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
    expect_valid_call(call["function"]["name"], call["function"]["arguments"], want_name, where);
  }
}

std::vector<json> sse_chunks(const std::string& body) {
  std::vector<json> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string data = body.substr(pos + 6, end - pos - 6);
    if (data != "[DONE]") out.push_back(json::parse(data));
    pos = end;
  }
  return out;
}

void forced_calls_streamed(const ToolServer& s, const json& choice, const std::string& want_name, int seeds) {
  for (int seed = 1; seed <= seeds; ++seed) {
    const std::string where = "seed " + std::to_string(seed) + " streamed";
    json body = forced_request(choice, static_cast<uint64_t>(seed));
    body["stream"] = true;
    auto res = s.post(body);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const std::vector<json> chunks = sse_chunks(res->body);
    ASSERT_GE(chunks.size(), 3u);
    std::string name, arguments, id;
    for (const json& ch : chunks) {
      const json& d = ch["choices"][0]["delta"];
      if (!d.contains("tool_calls")) continue;
      const json& t = d["tool_calls"][0];
      EXPECT_EQ(t["index"], 0) << where;
      if (t.contains("id")) {
        EXPECT_TRUE(id.empty()) << where << ": the id comes once";
        id = t["id"];
        EXPECT_EQ(t["type"], "function");
        name = t["function"]["name"];
        EXPECT_EQ(t["function"]["arguments"], "") << where;
      } else {
        EXPECT_FALSE(id.empty()) << where << ": arguments before the call's first delta";
        arguments += t["function"]["arguments"].get<std::string>();
      }
    }
    EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls") << where;
    expect_valid_call(name, arguments, want_name, where);
  }
}

const json kNamedWeather = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};

TEST(ServeTools, Qwen2ForcedNamedCallIsValidOverSeeds) {
  ToolServer s(test::long_context_copy("tiny-qwen2"));
  forced_calls_whole(s, kNamedWeather, "get_weather", 12);
  forced_calls_streamed(s, kNamedWeather, "get_weather", 4);
}

// max_tokens ends a forced call early: the call still comes back (OpenAI's way), its arguments the JSON
// written so far, finish_reason "length"; streamed, the same name and arguments.
TEST(ServeTools, ForcedCallCutOffByMaxTokensIsStillACall) {
  ToolServer s(test::long_context_copy("tiny-qwen2"));
  for (const int max_tokens : {48, 72}) {  // the call's head takes about 40 tokens of the tiny vocabulary
    json body = forced_request(kNamedWeather, 3);
    body["max_tokens"] = max_tokens;
    auto res = s.post(body);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json c = json::parse(res->body)["choices"][0];
    EXPECT_EQ(c["finish_reason"], "length") << res->body;
    EXPECT_TRUE(c["message"]["content"].is_null()) << res->body;
    ASSERT_EQ(c["message"]["tool_calls"].size(), 1u) << res->body;
    const json& fn = c["message"]["tool_calls"][0]["function"];
    EXPECT_EQ(fn["name"], "get_weather");
    const std::string args = fn["arguments"];
    ASSERT_FALSE(args.empty()) << res->body;
    EXPECT_EQ(args[0], '{') << args;
    body["stream"] = true;
    auto streamed = s.post(body);
    ASSERT_TRUE(streamed);
    std::string name, sargs;
    for (const json& ch : sse_chunks(streamed->body)) {
      const json& d = ch["choices"][0]["delta"];
      if (!d.contains("tool_calls")) continue;
      const json& f = d["tool_calls"][0]["function"];
      if (f.contains("name")) name = f["name"];
      sargs += f["arguments"].get<std::string>();
    }
    EXPECT_EQ(name, "get_weather") << streamed->body;
    EXPECT_EQ(sargs, args) << streamed->body;
  }
}

TEST(ServeTools, Qwen2RequiredCallPicksOneOfTheTools) {
  ToolServer s(test::long_context_copy("tiny-qwen2"));
  forced_calls_whole(s, "required", "", 8);
  forced_calls_streamed(s, "required", "", 2);
}

TEST(ServeTools, Qwen3ForcedCall) {
  ToolServer s(test::long_context_copy("tiny-qwen3"));
  forced_calls_whole(s, json{{"type", "function"}, {"function", {{"name", "run_kubectl"}}}}, "run_kubectl", 6);
}

TEST(ServeTools, Qwen1ReactForcedCallIsValidOverSeeds) {
  ToolServer s(test::fixture("tiny-qwen1"));  // dynamic NTK: a 32k context
  forced_calls_whole(s, kNamedWeather, "get_weather", 8);
  forced_calls_streamed(s, "required", "", 3);
}

TEST(ServeTools, ToolHistoryAndAutoChoice) {
  const json history = {
      {{"role", "user"}, {"content", "Weather in Paris?"}},
      {{"role", "assistant"},
       {"content", nullptr},
       {"tool_calls",
        {{{"id", "call_1"},
          {"type", "function"},
          {"function", {{"name", "get_weather"}, {"arguments", R"({"city": "Paris", "unit": "celsius"})"}}}}}}},
      {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "21 C"}}};
  for (const std::string fixture : {"tiny-qwen2", "tiny-qwen1"}) {
    ToolServer s(fixture == "tiny-qwen2" ? test::long_context_copy(fixture) : test::fixture(fixture));
    for (bool stream : {false, true}) {
      json body = {{"messages", history}, {"tools", tools_json()}, {"max_tokens", 8}, {"stream", stream}};
      auto res = s.post(body);
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 200) << fixture << ": " << res->body;
      body.erase("tools");  // tool history without tools: rendered all the same
      res = s.post(body);
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 200) << fixture << ": " << res->body;
    }
  }
}

TEST(ServeTools, LogprobsWithAForcedCall) {
  ToolServer s(test::long_context_copy("tiny-qwen2"));
  json body = forced_request(kNamedWeather, 5);
  body["logprobs"] = true;
  auto res = s.post(body);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  // The grammar ends the reply once the call is closed (no end token is drawn): one entry per token.
  EXPECT_EQ(j["choices"][0]["logprobs"]["content"].size(), j["usage"]["completion_tokens"].get<size_t>());
  body["stream"] = true;
  res = s.post(body);
  ASSERT_EQ(res->status, 200) << res->body;
  size_t n = 0;
  for (const json& c : sse_chunks(res->body))
    if (c.contains("choices") && !c["choices"].empty() && c["choices"][0]["logprobs"].is_object())
      n += c["choices"][0]["logprobs"]["content"].size();
  EXPECT_EQ(n, j["choices"][0]["logprobs"]["content"].size());  // same seed, same tokens
}

TEST(ServeTools, BadToolFieldsAre400) {
  ToolServer s(test::long_context_copy("tiny-qwen2"));
  auto param = [&](json body) {
    auto res = s.post(body);
    EXPECT_EQ(res->status, 400) << res->body;
    return json::parse(res->body)["error"]["param"];
  };
  json body = forced_request(json{{"type", "function"}, {"function", {{"name", "nope"}}}}, 1);
  EXPECT_EQ(param(body), "tool_choice.function.name");
  body = forced_request("auto", 1);
  body["tools"][1]["type"] = "code_interpreter";
  EXPECT_EQ(param(body), "tools[1].type");
  body = forced_request("required", 1);
  body["tools"][0]["function"]["parameters"]["properties"]["city"]["format"] = "uri";
  EXPECT_EQ(param(body), "tools[0].function.parameters");
  body = forced_request("required", 1);
  body["response_format"] = {{"type", "json_object"}};
  EXPECT_EQ(param(body), "response_format");
  // Qwen1's ReAct conversation rules: a tool result with no assistant turn before it.
  ToolServer q1(test::fixture("tiny-qwen1"));
  auto res = q1.post({{"messages", {{{"role", "tool"}, {"content", "x"}}, {{"role", "user"}, {"content", "q"}}}},
                      {"tools", tools_json()}});
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "messages");
}

}  // namespace
}  // namespace dm
