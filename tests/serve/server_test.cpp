// The server over HTTP on a free loopback port (in-process, httplib::Client as the client), with the
// tiny fixture models: golden greedy replies, SSE streaming, errors, API key, body limit, context limit,
// client disconnect, N+k concurrent requests, prefix reuse, access log, models/health/page.
#include "devops_model/serve/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <sstream>
#include <thread>

#include "devops_model/formats/safetensors.h"
#include "serve/openai_api.h"
#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;

struct Served {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Server> server;
  std::mutex log_mu;
  std::vector<json> log;
  std::vector<int32_t> golden_prompt, golden_output;

  Served(const std::string& name, ServerOptions o = {}) {
    const std::string dir = test::fixture(name);
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
    auto st = SafetensorsFile::open(dir + "/golden.safetensors");
    golden_prompt = test::golden_ids(*st, "greedy.prompt");
    golden_output = test::golden_ids(*st, "greedy.output");
    o.port = 0;
    o.access_log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lk(log_mu);
      log.push_back(json::parse(line));
    };
    server = std::make_unique<Server>(*model, *tok, generation_params_from_dir(dir), o);
    server->start();
  }
  ~Served() { server.reset(); }  // stop serving before the log the access logger writes to goes away
  // The golden reply as text: complete UTF-8, invalid bytes as U+FFFD (what the server sends).
  std::string golden_text() const { return text_of(golden_output); }
  std::string text_of(const std::vector<int32_t>& ids) const {
    StreamDecoder d(*tok);
    std::string s;
    for (int32_t id : ids) s += d.push(id);
    return s + d.flush();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(60);
    return c;
  }
  httplib::Result post(const std::string& path, const json& body, const httplib::Headers& h = {}) const {
    return client().Post(path.c_str(), h, body.dump(), "application/json");
  }
  // The access log once it has at least n lines (the logger runs just after the response is sent).
  std::vector<json> log_lines(size_t n = 0) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> lk(log_mu);
        if (log.size() >= n) return log;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard<std::mutex> lk(log_mu);
    return log;
  }
};

const json kQwen2Golden = {{"messages",
                            {{{"role", "system"}, {"content", "You are a helpful assistant."}},
                             {{"role", "user"}, {"content", "什么是持续集成？"}}}},
                           {"temperature", 0},
                           {"repetition_penalty", 1.0},
                           {"max_tokens", 16}};

// Parses an SSE body into its data payloads.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

TEST(ServeHttp, ChatGreedyIsTheGoldenReply) {
  Served s("tiny-qwen2");
  auto res = s.post("/v1/chat/completions", kQwen2Golden);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "tiny-qwen2");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], s.golden_text());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], s.golden_prompt.size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 16);
}

TEST(ServeHttp, Qwen1ChatWithHistoryIsTheGoldenReply) {
  Served s("tiny-qwen1");
  json body = {{"messages",
                {{{"role", "user"}, {"content", "你是谁"}},
                 {{"role", "assistant"}, {"content", "我是 DevOps 助手。"}},
                 {{"role", "user"}, {"content", "什么是持续集成？"}}}},
               {"temperature", 0},
               {"repetition_penalty", 1.0},
               {"max_tokens", 16}};
  auto res = s.post("/v1/chat/completions", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 86);  // make_context with max_window_size 64 from generation_config
  EXPECT_EQ(j["choices"][0]["message"]["content"], s.golden_text());
}

TEST(ServeHttp, StreamedDeltasConcatenateToTheReply) {
  Served s("tiny-qwen2");
  json body = kQwen2Golden;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto res = s.post("/v1/chat/completions", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  auto events = sse_data(res->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 1; i + 3 < events.size(); ++i)
    text += json::parse(events[i])["choices"][0]["delta"]["content"].get<std::string>();
  EXPECT_EQ(text, s.golden_text());
  EXPECT_EQ(json::parse(events[events.size() - 3])["choices"][0]["finish_reason"], "length");
  json usage = json::parse(events[events.size() - 2]);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 16);
  for (const auto& e : events) {  // one id for the whole stream
    if (e != "[DONE]") {
      EXPECT_EQ(json::parse(e)["id"], first["id"]);
    }
  }
  // The non-streamed reply to the same request is the same text.
  auto whole = s.post("/v1/chat/completions", kQwen2Golden);
  EXPECT_EQ(json::parse(whole->body)["choices"][0]["message"]["content"], text);
}

TEST(ServeHttp, CompletionsAndStopStrings) {
  Served s("tiny-qwen2");
  const std::string prompt_text = s.tok->decode(s.golden_prompt);
  json body = {{"prompt", prompt_text}, {"temperature", 0}, {"repetition_penalty", 1.0}, {"max_tokens", 16}};
  auto res = s.post("/v1/completions", body);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  const std::string want = s.golden_text();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], want);
  // A stop string taken from the middle of the golden reply cuts it there with finish_reason "stop".
  // The stop: the first whole UTF-8 character (not U+FFFD) from byte 3 on.
  std::string stop;
  for (size_t at = 0; at < want.size() && stop.empty();) {
    const auto lead = static_cast<unsigned char>(want[at]);
    const size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (at >= 3 && want.compare(at, len, "\xEF\xBF\xBD") != 0) stop = want.substr(at, len);
    at += len;
  }
  ASSERT_FALSE(stop.empty());
  body["stop"] = stop;
  j = json::parse(s.post("/v1/completions", body)->body);
  EXPECT_EQ(j["choices"][0]["text"], want.substr(0, want.find(stop)));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

// The listen backlog fits a burst of clients (httplib's own is 5): `ss` shows a listening socket's
// backlog in its Send-Q column.
TEST(ServeHttp, ListenBacklogFitsABurstOfClients) {
  Served s("tiny-qwen2");
  const auto r = test::run_cmd("ss -ltnH 'sport = :" + std::to_string(s.server->port()) + "' 2>&1");
  if (r.status == 127) GTEST_SKIP() << "no ss (iproute2)";
  ASSERT_EQ(r.status, 0) << r.out;
  // State Recv-Q Send-Q Local Peer
  std::istringstream in(r.out);
  std::string state;
  long recv_q = -1, backlog = -1;
  in >> state >> recv_q >> backlog;
  EXPECT_EQ(state, "LISTEN") << r.out;
  EXPECT_GE(backlog, 128) << r.out;
}

// Bound beyond loopback with no --api-key: a warning on stderr; with a key, or on loopback, none.
TEST(ServeHttp, NonLoopbackWithoutApiKeyWarns) {
  auto warning_for = [](const std::string& host, const std::string& key) {
    ServerOptions o;
    o.host = host;
    o.api_key = key;
    testing::internal::CaptureStderr();
    { Served s("tiny-qwen2", o); }
    return testing::internal::GetCapturedStderr();
  };
  EXPECT_NE(warning_for("0.0.0.0", "").find("warning: listening on 0.0.0.0 without --api-key"), std::string::npos);
  EXPECT_EQ(warning_for("0.0.0.0", "k").find("warning"), std::string::npos);
  EXPECT_EQ(warning_for("127.0.0.1", "").find("warning"), std::string::npos);
}

TEST(ServeHttp, BadRequestsGetOpenAiErrors) {
  Served s("tiny-qwen2");
  auto c = s.client();
  auto res = c.Post("/v1/chat/completions", "{\"messages\": [", "application/json");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_json");
  res = s.post("/v1/chat/completions", {{"messages", "hello"}});
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "messages");
  res = s.post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "q"}}}}, {"max_tokens", "many"}});
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "max_tokens");
  res = s.post("/v1/chat/completions", {{"messages", {{{"role", "assistant"}, {"content", "a"}}}}});
  EXPECT_EQ(res->status, 400);  // must end with the user's message
  res = s.post("/v1/chat/completions", {{"model", "gpt-4"}, {"messages", {{{"role", "user"}, {"content", "q"}}}}});
  ASSERT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "model_not_found");
  res = c.Get("/v1/nothing");
  ASSERT_EQ(res->status, 404);
  EXPECT_TRUE(json::parse(res->body).contains("error"));
}

TEST(ServeHttp, ApiKey) {
  ServerOptions o;
  o.api_key = "sekret";
  Served s("tiny-qwen2", o);
  json body = {{"messages", {{{"role", "user"}, {"content", "q"}}}}, {"max_tokens", 2}};
  auto res = s.post("/v1/chat/completions", body);
  ASSERT_EQ(res->status, 401);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(s.post("/v1/chat/completions", body, {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(s.client().Get("/v1/models")->status, 401);
  EXPECT_EQ(s.post("/v1/chat/completions", body, {{"Authorization", "Bearer sekret"}})->status, 200);
  EXPECT_EQ(s.client().Get("/health")->status, 200);  // health and the page stay open
  EXPECT_EQ(s.client().Get("/")->status, 200);
}

TEST(ServeHttp, OversizedBodyIs413) {
  ServerOptions o;
  o.max_body_bytes = 4096;
  Served s("tiny-qwen2", o);
  json body = {{"messages", {{{"role", "user"}, {"content", std::string(10000, 'a')}}}}};
  auto res = s.post("/v1/chat/completions", body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "body_too_large");
  EXPECT_EQ(s.client().Get("/health")->status, 200);
}

TEST(ServeHttp, PromptOverTheContextIs400) {
  Served s("tiny-qwen2");  // max_position_embeddings 128
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "持续集成 ";
  auto res = s.post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", long_text}}}}});
  ASSERT_EQ(res->status, 400);
  json e = json::parse(res->body)["error"];
  EXPECT_EQ(e["code"], "context_length_exceeded");
  EXPECT_NE(e["message"].get<std::string>().find("128"), std::string::npos);
  EXPECT_EQ(s.post("/v1/chat/completions", kQwen2Golden)->status, 200);  // still serving
}

TEST(ServeHttp, ClientDisconnectMidStreamFreesTheSlot) {
  ServerOptions o;
  o.parallel = 1;
  Served s("tiny-qwen1", o);  // dynamic NTK: a 32k context, so a long reply is possible
  const int max_tokens = 20000;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.set_header("Content-Type", "application/json");
  req.body = json({{"prompt", "持续集成"}, {"stream", true}, {"ignore_eos", true}, {"max_tokens", max_tokens}}).dump();
  int chunks = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };  // hang up
  auto c = s.client();
  c.send(req);
  EXPECT_EQ(chunks, 3);
  // The slot is freed at the next token; a new request is served at once.
  for (int i = 0; i < 2000 && s.server->stats().busy > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.server->stats().busy, 0);
  EXPECT_EQ(s.server->stats().cancelled, 1);
  json next = {{"messages", {{{"role", "user"}, {"content", "q"}}}}, {"max_tokens", 2}};
  EXPECT_EQ(s.post("/v1/chat/completions", next)->status, 200);
  auto log = s.log_lines(2);
  ASSERT_EQ(log.size(), 2u);
  const json& hung_up = log[0]["route"] == "/v1/completions" ? log[0] : log[1];  // lines land in any order
  EXPECT_EQ(hung_up["route"], "/v1/completions");
  EXPECT_EQ(hung_up["finish"], "cancelled");
  EXPECT_LT(hung_up["completion_tokens"].get<int>(), max_tokens);
}

TEST(ServeHttp, MoreConcurrentRequestsThanCapacityAreAnsweredOrRefused) {
  ServerOptions o;
  o.parallel = 2;
  o.max_queue = 2;
  Served s("tiny-qwen1", o);
  json body = {{"messages", {{{"role", "user"}, {"content", "什么是持续集成？"}}}},
               {"temperature", 0},
               {"ignore_eos", true},
               {"max_tokens", 200}};
  const int n = 12;
  std::vector<int> status(n, 0);
  std::vector<std::string> replies(n);
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) {
    ts.emplace_back([&, i] {
      auto res = s.post("/v1/chat/completions", body);
      if (!res) return;
      status[static_cast<size_t>(i)] = res->status;
      json j = json::parse(res->body);
      replies[static_cast<size_t>(i)] = res->status == 200 ? j["choices"][0]["message"]["content"].get<std::string>()
                                                           : j["error"]["code"].get<std::string>();
    });
  }
  for (auto& t : ts) t.join();
  int ok = 0, busy = 0;
  std::string first_reply;
  for (int i = 0; i < n; ++i) {
    if (status[static_cast<size_t>(i)] == 200) {
      ++ok;
      if (first_reply.empty()) first_reply = replies[static_cast<size_t>(i)];
      EXPECT_EQ(replies[static_cast<size_t>(i)], first_reply);  // greedy: the same reply from every slot
    } else {
      EXPECT_EQ(status[static_cast<size_t>(i)], 503);
      EXPECT_EQ(replies[static_cast<size_t>(i)], "server_busy");
      ++busy;
    }
  }
  EXPECT_EQ(ok + busy, n);
  EXPECT_GE(ok, 4);  // at least the slots and the queue were served
  auto h = json::parse(s.client().Get("/health")->body);
  EXPECT_EQ(h["busy"], 0);
  EXPECT_EQ(h["waiting"], 0);
}

TEST(ServeHttp, NextTurnReusesTheConversationsCache) {
  Served s("tiny-qwen2");
  json body = kQwen2Golden;
  json r1 = json::parse(s.post("/v1/chat/completions", body)->body);
  body["messages"].push_back({{"role", "assistant"}, {"content", r1["choices"][0]["message"]["content"]}});
  body["messages"].push_back({{"role", "user"}, {"content", "再说一遍"}});
  body["max_tokens"] = 2;
  ASSERT_EQ(s.post("/v1/chat/completions", body)->status, 200);
  auto log = s.log_lines(2);
  ASSERT_EQ(log.size(), 2u);
  const json& second = log[0]["completion_tokens"] == 2 ? log[0] : log[1];  // lines land in any order
  EXPECT_EQ(second["completion_tokens"], 2);
  EXPECT_GE(second["reused_tokens"].get<int>(), static_cast<int>(s.golden_prompt.size()));
}

TEST(ServeHttp, AccessLogModelsHealthAndPage) {
  Served s("tiny-qwen2");
  auto c = s.client();
  json models = json::parse(c.Get("/v1/models")->body);
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "tiny-qwen2");
  auto page = c.Get("/");
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<title>DevOps-Model Chat</title>"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos);  // nothing fetched from elsewhere
  EXPECT_EQ(page->body.find("https://cdn"), std::string::npos);
  s.post("/v1/chat/completions", kQwen2Golden);
  auto log = s.log_lines(3);
  ASSERT_EQ(log.size(), 3u);
  // httplib logs after the reply is sent, so lines of back-to-back requests (each on its own
  // connection and worker thread) may land in either order: find each by its route.
  auto line_of = [&](const std::string& route) {
    for (const json& l : log)
      if (l["route"] == route) return l;
    ADD_FAILURE() << "no access-log line for " << route;
    return json::object();
  };
  EXPECT_EQ(line_of("/v1/models")["status"], 200);
  EXPECT_EQ(line_of("/")["status"], 200);
  json chat = line_of("/v1/chat/completions");
  EXPECT_EQ(chat["status"], 200);
  EXPECT_EQ(chat["prompt_tokens"], s.golden_prompt.size());
  EXPECT_EQ(chat["completion_tokens"], 16);
  EXPECT_TRUE(chat["ms"].is_number());
  EXPECT_TRUE(chat["time"].get<std::string>().ends_with("Z"));
}

TEST(ServeHttp, CrossSiteRequestsAreRefused) {
  ServerOptions o;
  o.allowed_hosts = {"chat.internal"};
  o.cors_origins = {"http://tool.example"};
  Served s("tiny-qwen2", o);
  const std::string port = std::to_string(s.server->port());
  json small = {{"messages", {{{"role", "user"}, {"content", "q"}}}}, {"max_tokens", 1}};
  // DNS rebinding: another name resolving to 127.0.0.1 carries its own Host header.
  for (const std::string& bad :
       std::vector<std::string>{"evil.example.com", "evil.example.com:" + port, "127.0.0.1:1", "localhost"}) {
    auto res = s.client().Post("/v1/chat/completions", {{"Host", bad}}, small.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403) << bad;
    json e = json::parse(res->body)["error"];
    EXPECT_EQ(e["code"], "host_not_allowed");
    EXPECT_NE(e["message"].get<std::string>().find(bad), std::string::npos);
    EXPECT_EQ(s.client().Get("/v1/models", {{"Host", bad}})->status, 403) << bad;
  }
  for (const std::string& good :
       std::vector<std::string>{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "LocalHost:" + port,
                                "chat.internal", "chat.internal:" + port})
    EXPECT_EQ(s.client().Get("/v1/models", {{"Host", good}})->status, 200) << good;
  // A text/plain (or form) POST skips the browser's preflight: refused before the model runs.
  for (const char* ct : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}) {
    auto res = s.client().Post("/v1/chat/completions", small.dump(), ct);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 415) << ct;
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "unsupported_media_type");
  }
  EXPECT_EQ(s.client().Post("/v1/chat/completions", small.dump(), "application/json; charset=utf-8")->status, 200);
  EXPECT_EQ(s.server->stats().completed, 1);  // only the JSON request ran the model
  // CORS: only the configured origin gets Access-Control-Allow-Origin, on preflights and answers.
  auto pre = s.client().Options("/v1/chat/completions",
                                {{"Origin", "http://tool.example"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "http://tool.example");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Content-Type"), std::string::npos);
  auto other = s.client().Options("/v1/chat/completions", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(other->status, 403);
  EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));
  auto models = s.client().Get("/v1/models", {{"Origin", "http://tool.example"}});
  EXPECT_EQ(models->get_header_value("Access-Control-Allow-Origin"), "http://tool.example");
  EXPECT_FALSE(
      s.client().Get("/v1/models", {{"Origin", "http://evil.example"}})->has_header("Access-Control-Allow-Origin"));
}

TEST(ServeHttp, NoCorsOriginsByDefault) {
  Served s("tiny-qwen2");
  auto pre = s.client().Options("/v1/chat/completions", {{"Origin", "http://127.0.0.1:1"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 403);
  EXPECT_FALSE(pre->has_header("Access-Control-Allow-Origin"));
  EXPECT_EQ(s.client().Get("/", {{"Host", "evil.example.com"}})->status, 403);  // the page too
}

}  // namespace
}  // namespace dm
