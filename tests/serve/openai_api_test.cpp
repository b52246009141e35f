// OpenAI request parsing (field validation, error objects) and the stop-string filter, without sockets.
#include "serve/openai_api.h"

#include <gtest/gtest.h>

#include "devops_model/serve/stop_strings.h"

namespace dm {
namespace {

int status_of(const std::string& body, bool chat = true) {
  try {
    chat ? parse_chat_request(body) : parse_completion_request(body);
  } catch (const ApiError& e) {
    return e.status;
  }
  return 200;
}

std::string param_of(const std::string& body) {
  try {
    parse_chat_request(body);
  } catch (const ApiError& e) {
    return e.param;
  }
  return "(accepted)";
}

TEST(OpenAiParse, ChatFields) {
  ApiRequest r = parse_chat_request(R"({"model":"m","messages":[{"role":"system","content":"S"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
      "stream":true,"stream_options":{"include_usage":true},"temperature":0,"top_p":0.5,"max_tokens":7,
      "stop":["x","yz"],"seed":42,"n":1})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yz"}));
  GenerationParams defaults;
  defaults.do_sample = true;
  defaults.repetition_penalty = 1.1;
  GenerationParams p = request_params(r, defaults);
  EXPECT_TRUE(p.greedy());  // temperature 0
  EXPECT_EQ(p.top_p, 0.5);
  EXPECT_EQ(p.max_new_tokens, 7);
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.repetition_penalty, 1.1);  // not in the request: generation_config's value stays
  EXPECT_TRUE(r.enable_thinking);        // Qwen3's default
  const std::string q = R"({"messages":[{"role":"user","content":"q"}],)";
  EXPECT_FALSE(parse_chat_request(q + R"("chat_template_kwargs":{"enable_thinking":false}})").enable_thinking);
  EXPECT_FALSE(parse_chat_request(q + R"("enable_thinking":false})").enable_thinking);
  EXPECT_EQ(param_of(q + R"("chat_template_kwargs":{"enable_thinking":"no"}})"),
            "chat_template_kwargs.enable_thinking");
  EXPECT_EQ(param_of(q + R"("chat_template_kwargs":[]})"), "chat_template_kwargs");
}

TEST(OpenAiParse, BadRequestsName400AndTheField) {
  EXPECT_EQ(status_of("{not json"), 400);
  EXPECT_EQ(status_of(R"({"messages":[{"role":"user","content":"q"}],"temperature":1e999})"), 400);  // out of range
  EXPECT_EQ(status_of("[1,2]"), 400);
  EXPECT_EQ(param_of(R"({"messages":"hi"})"), "messages");
  EXPECT_EQ(param_of(R"({})"), "messages");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"temperature":"hot"})"), "temperature");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"temperature":3})"), "temperature");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"max_tokens":-1})"), "max_tokens");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"max_tokens":1.5})"), "max_tokens");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"n":2})"), "n");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"stream":"yes"})"), "stream");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"stop":[1]})"), "stop");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"robot","content":"q"}]})"), "messages[0].role");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":7}]})"), "messages[0].content");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"q"}],"model":5})"), "model");
  EXPECT_EQ(status_of(R"({"prompt":""})", false), 400);
  EXPECT_EQ(status_of(R"({"prompt":["a","b"]})", false), 400);
  EXPECT_EQ(status_of(R"({"prompt":["a"]})", false), 200);
  EXPECT_EQ(status_of("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}"), 400);  // invalid UTF-8
}

TEST(OpenAiShapes, ChatResponseAndChunks) {
  ResponseMeta m = new_response_meta(true, "tiny");
  EXPECT_EQ(m.id.rfind("chatcmpl-", 0), 0u);
  JobResult r;
  r.text = "hi";
  r.prompt_tokens = 5;
  r.completion_tokens = 2;
  r.finish = FinishReason::kStop;
  auto j = chat_response(m, r);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["total_tokens"], 7);
  EXPECT_EQ(sse_event(stream_chunk_text(m, true, "x")).rfind("data: {", 0), 0u);
  EXPECT_EQ(stream_chunk_text(m, true, "x")["choices"][0]["delta"]["content"], "x");
  EXPECT_EQ(stream_chunk_text(m, false, "x")["choices"][0]["text"], "x");
  EXPECT_EQ(stream_chunk_finish(m, true, FinishReason::kLength)["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(stream_chunk_usage(m, true, r)["choices"].empty());
}

std::string feed(StopStringFilter& f, const std::vector<std::string>& pieces, std::vector<std::string>* out = nullptr) {
  std::string all;
  for (const auto& p : pieces) {
    std::string o = f.push(p);
    if (out) out->push_back(o);
    all += o;
  }
  return all + f.finish();
}

TEST(StopStrings, CutsAtTheFirstStopAcrossPieces) {
  StopStringFilter f({"END", "\n\n"});
  std::vector<std::string> out;
  EXPECT_EQ(feed(f, {"abc E", "N", "Dxyz"}, &out), "abc ");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(out[0], "abc ");  // "E" held back: it may start "END"
  EXPECT_EQ(out[1], "");
  StopStringFilter g({"END"});
  EXPECT_EQ(feed(g, {"abc E", "nd", " E"}), "abc End E");  // no stop: everything comes out, tail at finish
  EXPECT_FALSE(g.stopped());
  StopStringFilter h({"持续"});
  EXPECT_EQ(feed(h, {"什么是持", "续集成"}), "什么是");
  StopStringFilter none({});
  EXPECT_EQ(feed(none, {"a", "b"}), "ab");
}

}  // namespace
}  // namespace dm
