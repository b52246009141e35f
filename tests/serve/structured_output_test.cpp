// response_format (json_object / json_schema through the grammar engine), logprobs in OpenAI's chat and
// completions shapes (whole and streamed), and the 400s for fields the server recognises but does not
// implement: request parsing without sockets, then over HTTP with the tiny fixture models.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>

#include "devops_model/generate/grammar.h"
#include "devops_model/serve/server.h"
#include "devops_model/tokenizer/unicode.h"
#include "serve/openai_api.h"
#include "serve/response_format.h"
#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;

const std::string kMsgs = R"("messages":[{"role":"user","content":"q"}])";

ApiError error_of(const std::string& body, bool chat = true) {
  try {
    chat ? parse_chat_request(body) : parse_completion_request(body);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(200, "(accepted)");
}

TEST(ResponseFormat, ParsesTheThreeTypes) {
  ApiRequest r = parse_chat_request("{" + kMsgs + "}");
  EXPECT_EQ(r.structured.response_format.type, ResponseFormat::Type::kText);
  EXPECT_EQ(r.structured.logprobs, -1);
  r = parse_chat_request("{" + kMsgs + R"(,"response_format":{"type":"text"}})");
  EXPECT_EQ(r.structured.response_format.type, ResponseFormat::Type::kText);
  EXPECT_EQ(response_format_grammar(r.structured.response_format), nullptr);
  r = parse_chat_request("{" + kMsgs + R"(,"response_format":{"type":"json_object"}})");
  EXPECT_EQ(r.structured.response_format.type, ResponseFormat::Type::kJsonObject);
  EXPECT_NE(response_format_grammar(r.structured.response_format), nullptr);
  // The schema keeps its keys in the request's order (properties are generated in declared order).
  r = parse_chat_request("{" + kMsgs + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x",
      "strict":true,"schema":{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},
      "required":["zeta","alpha"]}}}})");
  const ResponseFormat& f = r.structured.response_format;
  EXPECT_EQ(f.type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(f.name, "x");
  EXPECT_TRUE(f.strict);
  EXPECT_LT(f.schema.find("zeta"), f.schema.find("alpha")) << f.schema;
  // Completions take it too.
  r = parse_completion_request(R"({"prompt":"p","response_format":{"type":"json_object"}})");
  EXPECT_EQ(r.structured.response_format.type, ResponseFormat::Type::kJsonObject);
}

TEST(ResponseFormat, BadFormatsAndUnsupportedSchemasAre400OnResponseFormat) {
  for (const char* rf : {R"("json")", R"({})", R"({"type":"yaml"})", R"({"type":"json_schema"})",
                         R"({"type":"json_schema","json_schema":{"name":"x"}})",
                         R"({"type":"json_schema","json_schema":{"name":"x","schema":[1]}})",
                         R"({"type":"json_schema","json_schema":{"name":7,"schema":{}}})",
                         R"({"type":"json_schema","json_schema":{"strict":"yes","schema":{}}})"}) {
    ApiError e = error_of("{" + kMsgs + R"(,"response_format":)" + rf + "}");
    EXPECT_EQ(e.status, 400) << rf;
    EXPECT_EQ(e.param, "response_format") << rf;
  }
  // A schema keyword the compiler does not support: 400 with its message, at grammar time.
  ApiRequest r = parse_chat_request("{" + kMsgs + R"(,"response_format":{"type":"json_schema","json_schema":
      {"name":"x","schema":{"type":"object","properties":{"id":{"type":"string","pattern":"^[a-z]+$"}}}}}})");
  try {
    response_format_grammar(r.structured.response_format);
    FAIL() << "expected a 400";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "response_format");
    EXPECT_NE(std::string(e.what()).find("pattern"), std::string::npos) << e.what();
  }
}

TEST(ResponseFormat, SchemasCompileOncePerDistinctText) {
  ResponseFormat f;
  f.type = ResponseFormat::Type::kJsonSchema;
  f.schema = R"({"type":"object","properties":{"cache_test_key":{"type":"boolean"}}})";
  const GrammarCacheStats before = grammar_cache_stats();
  auto a = response_format_grammar(f);
  auto b = response_format_grammar(f);
  EXPECT_EQ(a, b);
  const GrammarCacheStats after = grammar_cache_stats();
  EXPECT_EQ(after.compiles, before.compiles + 1);
  EXPECT_EQ(after.hits, before.hits + 1);
  // Bounded: many distinct schemas evict the oldest.
  for (int i = 0; i < static_cast<int>(kGrammarCacheSize) + 3; ++i) {
    f.schema = R"({"enum":[)" + std::to_string(i) + "]}";
    response_format_grammar(f);
  }
  EXPECT_EQ(grammar_cache_stats().entries, kGrammarCacheSize);
}

TEST(Logprobs, ChatAndCompletionsFields) {
  EXPECT_EQ(parse_chat_request("{" + kMsgs + R"(,"logprobs":true})").structured.logprobs, 0);
  EXPECT_EQ(parse_chat_request("{" + kMsgs + R"(,"logprobs":true,"top_logprobs":20})").structured.logprobs, 20);
  EXPECT_EQ(parse_chat_request("{" + kMsgs + R"(,"logprobs":false})").structured.logprobs, -1);
  EXPECT_EQ(error_of("{" + kMsgs + R"(,"logprobs":3})").param, "logprobs");
  EXPECT_EQ(error_of("{" + kMsgs + R"(,"logprobs":true,"top_logprobs":21})").param, "top_logprobs");
  EXPECT_EQ(error_of("{" + kMsgs + R"(,"logprobs":true,"top_logprobs":-1})").param, "top_logprobs");
  EXPECT_EQ(error_of("{" + kMsgs + R"(,"top_logprobs":2})").param, "top_logprobs");  // needs logprobs true
  EXPECT_EQ(parse_completion_request(R"({"prompt":"p","logprobs":5})").structured.logprobs, 5);
  EXPECT_EQ(parse_completion_request(R"({"prompt":"p","logprobs":0})").structured.logprobs, 0);
  EXPECT_EQ(parse_completion_request(R"({"prompt":"p","logprobs":null})").structured.logprobs, -1);
  EXPECT_EQ(error_of(R"({"prompt":"p","logprobs":6})", false).param, "logprobs");
  EXPECT_EQ(error_of(R"({"prompt":"p","logprobs":true})", false).param, "logprobs");
}

TEST(UnsupportedFields, AreA400NamingTheField) {
  const std::vector<std::pair<std::string, std::string>> chat = {
      {R"("logit_bias":{"50256":-100})", "logit_bias"},
      {R"("presence_penalty":0.5)", "presence_penalty"},
      {R"("frequency_penalty":-1)", "frequency_penalty"},
      {R"("frequency_penalty":"lots")", "frequency_penalty"},
      {R"("functions":[{"name":"f","parameters":{}}])", "functions"},
      {R"("function_call":"auto")", "function_call"},
      {R"("audio":{"voice":"alloy","format":"wav"})", "audio"},
      {R"("modalities":["text","audio"])", "modalities"},
      {R"("prediction":{"type":"content","content":"x"})", "prediction"},
      {R"("web_search_options":{})", "web_search_options"},
      {R"("n":2)", "n"},
  };
  for (const auto& [field, param] : chat) {
    ApiError e = error_of("{" + kMsgs + "," + field + "}");
    EXPECT_EQ(e.status, 400) << field;
    EXPECT_EQ(e.param, param) << field;
  }
  const std::vector<std::pair<std::string, std::string>> completions = {
      {R"("suffix":" end")", "suffix"}, {R"("echo":true)", "echo"}, {R"("best_of":3)", "best_of"},
      {R"("logit_bias":{"1":1})", "logit_bias"}, {R"("presence_penalty":1)", "presence_penalty"}};
  for (const auto& [field, param] : completions) {
    ApiError e = error_of(R"({"prompt":"p",)" + field + "}", false);
    EXPECT_EQ(e.status, 400) << field;
    EXPECT_EQ(e.param, param) << field;
  }
  // Neutral values are what clients send by default: accepted.
  EXPECT_EQ(error_of("{" + kMsgs + R"(,"logit_bias":{},"presence_penalty":0,"frequency_penalty":0,
      "modalities":["text"],"functions":null,"user":"u","store":false,"metadata":{"a":"b"}})").status, 200);
  const ApiError neutral = error_of(R"({"prompt":"p","suffix":"","echo":false,"best_of":1,"logit_bias":null})", false);
  EXPECT_EQ(neutral.status, 200) << neutral.what();
  // Image parts were already refused, naming the content.
  EXPECT_EQ(error_of(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})")
                .param,
            "messages[0].content");
}

struct Served {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Server> server;
  explicit Served(const std::string& name) {
    const std::string dir = test::fixture(name);
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
    ServerOptions o;
    o.port = 0;
    o.access_log = [](const std::string&) {};
    server = std::make_unique<Server>(*model, *tok, generation_params_from_dir(dir), o);
    server->start();
  }
  json post(const std::string& path, const json& body, int want_status = 200) const {
    return post_text(path, body.dump(), want_status);
  }
  json post_text(const std::string& path, const std::string& text, int want_status = 200) const {
    const json body = json::parse(text);
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(60);
    auto res = c.Post(path.c_str(), text, "application/json");
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, want_status) << res->body;
    if (body.value("stream", false) && res->status == 200) {
      json events = json::array();
      for (size_t pos = 0; (pos = res->body.find("data: ", pos)) != std::string::npos;) {
        const size_t end = res->body.find("\n\n", pos);
        const std::string data = res->body.substr(pos + 6, end - pos - 6);
        if (data != "[DONE]") events.push_back(json::parse(data));
        pos = end;
      }
      return events;
    }
    return json::parse(res->body);
  }
};

// Sent as text, so that the properties keep this order (nlohmann::json would sort them).
// Small: a random model pads with the most whitespace and the longest numbers the grammar allows.
const std::string kSchema = R"({"type":"object","properties":{
    "service":{"type":"string","maxLength":4},"strategy":{"enum":["RollingUpdate","Recreate"]},
    "debug":{"type":"boolean"}},"required":["service","strategy"]})";

TEST(ServeStructured, JsonSchemaRepliesParseAndMatchOverManySeeds) {
  Served s("tiny-qwen2");
  int complete = 0;
  for (int seed = 0; seed < 16; ++seed) {
    // Short messages: the fixture's context is 128 tokens of a 512-token (mostly single-byte) vocabulary.
    json body = {{"messages", {{{"role", "system"}, {"content", "J"}}, {{"role", "user"}, {"content", "q"}}}},
                 {"temperature", 1.0},
                 {"top_p", 1.0},
                 {"seed", seed},
                 {"max_tokens", 100},
                 {"response_format",
                  {{"type", "json_schema"},
                   {"json_schema", {{"name", "deploy"}, {"strict", true}, {"schema", json::parse(kSchema)}}}}}};
    std::string text = body.dump();
    const std::string sorted_schema = json::parse(kSchema).dump();
    text.replace(text.find(sorted_schema), sorted_schema.size(), kSchema);
    json j = s.post_text("/v1/chat/completions", text);
    const std::string content = j["choices"][0]["message"]["content"];
    if (j["choices"][0]["finish_reason"] == "length") {
      continue;
    }
    ++complete;
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    json v;
    ASSERT_NO_THROW(v = json::parse(content)) << "seed " << seed << ": " << content;
    ASSERT_TRUE(v.is_object());
    EXPECT_TRUE(v["service"].is_string() && v["service"].get<std::string>().size() <= 4 * 4) << content;
    EXPECT_TRUE(v["strategy"] == "RollingUpdate" || v["strategy"] == "Recreate") << content;
    // Declared order: service, strategy, then debug if present.
    EXPECT_LT(content.find("\"service\""), content.find("\"strategy\"")) << content;
    for (auto& [k, x] : v.items()) {
      EXPECT_TRUE(k == "service" || k == "strategy" || k == "debug") << content;
      if (k == "debug") {
        EXPECT_TRUE(x.is_boolean()) << content;
      }
    }
  }
  EXPECT_GE(complete, 8);  // most complete within 100 tokens
  // json_object: any object; streamed, the deltas concatenate to it.
  json body = {{"messages", {{{"role", "system"}, {"content", "J"}}, {{"role", "user"}, {"content", "q"}}}},
               {"temperature", 0},
               {"max_tokens", 100},
               {"stream", true},
               {"ignore_eos", true},
               {"response_format", {{"type", "json_object"}}}};
  json events = s.post("/v1/chat/completions", body);
  std::string text;
  for (const json& e : events)
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("content"))
      text += e["choices"][0]["delta"]["content"].get<std::string>();
  const json& last = events.back();
  if (last["choices"][0]["finish_reason"] == "stop") {
    json v;
    ASSERT_NO_THROW(v = json::parse(text)) << text;
    EXPECT_TRUE(v.is_object());
  } else {
    EXPECT_EQ(text.front(), '{') << text;
  }
  // An unsupported schema keyword: 400 naming response_format, before anything runs.
  body = {{"messages", {{{"role", "user"}, {"content", "q"}}}},
          {"response_format",
           {{"type", "json_schema"},
            {"json_schema", {{"name", "x"}, {"schema", {{"type", "string"}, {"format", "date-time"}}}}}}}};
  json err = s.post("/v1/chat/completions", body, 400);
  EXPECT_EQ(err["error"]["param"], "response_format");
  EXPECT_NE(err["error"]["message"].get<std::string>().find("format"), std::string::npos);
}

// Logprobs entries of a chat reply, whole or gathered from its chunks.
json chat_content_logprobs(const json& whole_or_events, bool streamed) {
  if (!streamed) return whole_or_events["choices"][0]["logprobs"]["content"];
  json all = json::array();
  for (const json& e : whole_or_events) {
    if (e["choices"].empty() || e["choices"][0]["logprobs"].is_null()) continue;
    for (const json& x : e["choices"][0]["logprobs"]["content"]) all.push_back(x);
  }
  return all;
}

TEST(ServeLogprobs, ChatGreedyLogprobsAreConsistentWithTheReply) {
  Served s("tiny-qwen2");
  json body = {{"messages", {{{"role", "user"}, {"content", "What is CI?"}}}},
               {"temperature", 0},
               {"max_tokens", 12},
               {"ignore_eos", true},
               {"logprobs", true},
               {"top_logprobs", 3}};
  json j = s.post("/v1/chat/completions", body);
  json lps = chat_content_logprobs(j, false);
  EXPECT_TRUE(j["choices"][0]["logprobs"].contains("refusal"));
  ASSERT_EQ(lps.size(), 12u);
  std::string bytes;
  for (const json& lp : lps) {
    ASSERT_TRUE(lp["token"].is_string());
    ASSERT_EQ(lp["top_logprobs"].size(), 3u);
    EXPECT_EQ(lp["top_logprobs"][0]["token"], lp["token"]);  // greedy: the chosen token is the top-1
    EXPECT_EQ(lp["top_logprobs"][0]["bytes"], lp["bytes"]);
    EXPECT_FLOAT_EQ(lp["top_logprobs"][0]["logprob"].get<float>(), lp["logprob"].get<float>());
    EXPECT_LE(lp["logprob"].get<double>(), 0.0);
    double mass = 0;
    for (const json& t : lp["top_logprobs"]) mass += std::exp(t["logprob"].get<double>());
    EXPECT_LE(mass, 1.0 + 1e-5);
    for (const json& b : lp["bytes"]) bytes += static_cast<char>(b.get<int>());
  }
  // The tokens' bytes spell the reply (the reply has U+FFFD where the bytes are not valid UTF-8).
  EXPECT_EQ(utf8_replace_invalid(bytes), j["choices"][0]["message"]["content"]);
  // Streamed: the same entries, spread over the chunks that carry their text.
  body["stream"] = true;
  json events = s.post("/v1/chat/completions", body);
  EXPECT_EQ(chat_content_logprobs(events, true), lps);
  for (const json& e : events) {
    if (e["choices"].empty() || e["choices"][0]["logprobs"].is_null()) continue;
    if (e["choices"][0]["delta"].contains("content") && e["choices"][0]["delta"]["content"] != "") {
      EXPECT_FALSE(e["choices"][0]["logprobs"]["content"].empty());
    }
  }
  // Without logprobs: null, as before.
  body.erase("logprobs");
  body.erase("top_logprobs");
  body["stream"] = false;
  EXPECT_TRUE(s.post("/v1/chat/completions", body)["choices"][0]["logprobs"].is_null());
}

TEST(ServeLogprobs, CompletionsLegacyShapeWholeAndStreamed) {
  Served s("tiny-qwen2");
  json body = {{"prompt", "kubectl get pods"}, {"temperature", 0}, {"max_tokens", 10}, {"ignore_eos", true},
               {"logprobs", 2}};
  json j = s.post("/v1/completions", body);
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 10u);
  ASSERT_EQ(lp["token_logprobs"].size(), 10u);
  ASSERT_EQ(lp["top_logprobs"].size(), 10u);
  ASSERT_EQ(lp["text_offset"].size(), 10u);
  EXPECT_EQ(lp["text_offset"][0], 0);
  for (size_t i = 0; i < 10; ++i) {
    const json& top = lp["top_logprobs"][i];
    const std::string tok = lp["tokens"][i];
    EXPECT_GE(top.size(), 1u);
    EXPECT_LE(top.size(), 2u);  // greedy: the sampled token is one of the top 2 (it is the top-1)
    ASSERT_TRUE(top.contains(tok));
    EXPECT_FLOAT_EQ(top[tok].get<float>(), lp["token_logprobs"][i].get<float>());
    if (i > 0) {
      EXPECT_GE(lp["text_offset"][i].get<int>(), lp["text_offset"][i - 1].get<int>());
    }
  }
  // Streamed: chunks' tokens and offsets concatenate to the whole response's.
  body["stream"] = true;
  json events = s.post("/v1/completions", body);
  json tokens = json::array(), offsets = json::array(), values = json::array();
  for (const json& e : events) {
    if (e["choices"].empty() || e["choices"][0]["logprobs"].is_null()) continue;
    for (const json& t : e["choices"][0]["logprobs"]["tokens"]) tokens.push_back(t);
    for (const json& t : e["choices"][0]["logprobs"]["text_offset"]) offsets.push_back(t);
    for (const json& t : e["choices"][0]["logprobs"]["token_logprobs"]) values.push_back(t);
  }
  EXPECT_EQ(tokens, lp["tokens"]);
  EXPECT_EQ(offsets, lp["text_offset"]);
  EXPECT_EQ(values, lp["token_logprobs"]);
}

TEST(ServeLogprobs, UnderAJsonGrammarAlternativesAreValidContinuations) {
  Served s("tiny-qwen2");
  json body = {{"messages", {{{"role", "user"}, {"content", "q"}}}},
               {"temperature", 0},
               {"max_tokens", 1},
               {"logprobs", true},
               {"top_logprobs", 20},
               {"response_format", {{"type", "json_object"}}}};
  json j = s.post("/v1/chat/completions", body);
  json lps = chat_content_logprobs(j, false);
  ASSERT_EQ(lps.size(), 1u);
  for (const json& t : lps[0]["top_logprobs"]) {
    const std::string tok = t["token"];
    EXPECT_EQ(tok.front(), '{') << tok;  // an object starts with {
  }
}

}  // namespace
}  // namespace dm
