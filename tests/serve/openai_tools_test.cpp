// OpenAI function calling without sockets: the tools fields (400s naming the field), tool_calls / tool
// messages in the history, and the reply as message.tool_calls and as stream deltas.
#include "serve/openai_tools.h"

#include <gtest/gtest.h>

namespace dm {
namespace {

using nlohmann::json;

const std::string kWeather =
    R"({"type":"function","function":{"name":"get_weather","description":"Weather","parameters":)"
    R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}})";

std::string body(const std::string& extra) {
  return R"({"messages":[{"role":"user","content":"q"}],"tools":[)" + kWeather + "]" + extra + "}";
}

std::string param_of(const std::string& b) {
  try {
    parse_chat_request(b);
    parse_tool_request(b);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << b;
    EXPECT_NE(std::string(e.what()).find("'" + e.param + "'"), std::string::npos) << e.what();
    return e.param;
  }
  return "(accepted)";
}

TEST(OpenAiTools, ParsesToolsChoiceAndParallel) {
  ToolRequest r = parse_tool_request(body(""));
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools[0].description, "Weather");
  EXPECT_EQ(r.tools[0].parameters, R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
  EXPECT_EQ(r.tools[0].source, kWeather);  // key order as sent
  EXPECT_EQ(r.choice, ToolChoice::kAuto);
  EXPECT_TRUE(r.parallel);
  EXPECT_EQ(parse_tool_request(body(R"(,"tool_choice":"none")")).choice, ToolChoice::kNone);
  EXPECT_EQ(parse_tool_request(body(R"(,"tool_choice":"required")")).choice, ToolChoice::kRequired);
  r = parse_tool_request(body(R"(,"tool_choice":{"type":"function","function":{"name":"get_weather"}},)"
                              R"("parallel_tool_calls":false)"));
  EXPECT_EQ(r.choice, ToolChoice::kNamed);
  EXPECT_EQ(r.named, "get_weather");
  EXPECT_FALSE(r.parallel);
  EXPECT_TRUE(parse_tool_request(R"({"messages":[{"role":"user","content":"q"}]})").tools.empty());
}

TEST(OpenAiTools, BadToolFieldsAre400NamingTheField) {
  const std::string q = R"({"messages":[{"role":"user","content":"q"}],)";
  EXPECT_EQ(param_of(q + R"("tools":{}})"), "tools");
  EXPECT_EQ(param_of(q + R"("tools":[]})"), "tools");
  EXPECT_EQ(param_of(q + R"("tools":[{"type":"retrieval"}]})"), "tools[0].type");
  EXPECT_EQ(param_of(q + R"("tools":[{"function":{"name":"f"}}]})"), "tools[0].type");
  EXPECT_EQ(param_of(q + R"("tools":[{"type":"function"}]})"), "tools[0].function");
  EXPECT_EQ(param_of(q + R"("tools":[{"type":"function","function":{"name":"a b"}}]})"), "tools[0].function.name");
  EXPECT_EQ(param_of(q + R"("tools":[{"type":"function","function":{}}]})"), "tools[0].function.name");
  EXPECT_EQ(param_of(q + R"("tools":[{"type":"function","function":{"name":"f","parameters":[]}}]})"),
            "tools[0].function.parameters");
  EXPECT_EQ(param_of(q + R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"string"}}}]})"),
            "tools[0].function.parameters");
  EXPECT_EQ(param_of(q + R"("tools":[{"type":"function","function":{"name":"f","description":1}}]})"),
            "tools[0].function.description");
  EXPECT_EQ(param_of(body(R"(,"tools":[)" + kWeather + "," + kWeather + "]")), "tools[1].function.name");
  EXPECT_EQ(param_of(body(R"(,"tool_choice":"sometimes")")), "tool_choice");
  EXPECT_EQ(param_of(body(R"(,"tool_choice":3)")), "tool_choice");
  EXPECT_EQ(param_of(body(R"(,"tool_choice":{"type":"function","function":{"name":"nope"}})")),
            "tool_choice.function.name");
  EXPECT_EQ(param_of(body(R"(,"tool_choice":{"type":"code","function":{"name":"get_weather"}})")), "tool_choice.type");
  EXPECT_EQ(param_of(q + R"("tool_choice":"required"})"), "tool_choice");
  EXPECT_EQ(param_of(body(R"(,"parallel_tool_calls":"yes")")), "parallel_tool_calls");
  EXPECT_EQ(param_of(q + R"("functions":[{"name":"f"}]})"), "functions");
  EXPECT_EQ(param_of(q + R"("function_call":"auto"})"), "function_call");
  // A schema the grammar compiler refuses: only when a call is forced (auto just shows the schema).
  const std::string pattern = R"({"type":"function","function":{"name":"f","parameters":{"type":"object",)"
                              R"("properties":{"id":{"type":"string","pattern":"^a"}}}}})";
  EXPECT_EQ(param_of(q + R"("tools":[)" + pattern + "]}"), "(accepted)");
  const std::string forced = q + R"("tools":[)" + kWeather + "," + pattern + R"(],"tool_choice":"required"})";
  EXPECT_EQ(param_of(forced), "tools[1].function.parameters");
  try {
    parse_tool_request(forced);
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported keyword 'pattern'"), std::string::npos) << e.what();
  }
}

TEST(OpenAiTools, HistoryToolCallsAndToolMessages) {
  const ApiRequest r = parse_chat_request(R"({"messages":[{"role":"user","content":"q"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
       "function":{"name":"get_weather","arguments":"{\"city\": \"Oslo\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"cold"}]})");
  ASSERT_EQ(r.messages.size(), 3u);
  ASSERT_EQ(r.messages[1].tool_calls.size(), 1u);
  EXPECT_EQ(r.messages[1].content, "");
  EXPECT_EQ(r.messages[1].tool_calls[0].id, "call_1");
  EXPECT_EQ(r.messages[1].tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.messages[1].tool_calls[0].arguments, R"({"city": "Oslo"})");
  EXPECT_EQ(r.messages[2].role, "tool");
  EXPECT_EQ(r.messages[2].tool_call_id, "call_1");
  EXPECT_EQ(r.messages[2].content, "cold");
  EXPECT_TRUE(uses_tool_prompt(ToolRequest{}, r.messages));
  const std::string u = R"({"messages":[{"role":"user","content":"q"},)";
  EXPECT_EQ(param_of(u + R"({"role":"user","content":"x","tool_calls":[]}]})"), "messages[1].tool_calls");
  EXPECT_EQ(param_of(u + R"({"role":"assistant","tool_calls":{}}]})"), "messages[1].tool_calls");
  EXPECT_EQ(param_of(u + R"({"role":"assistant","tool_calls":[{"type":"function","function":{"arguments":"{}"}}]}]})"),
            "messages[1].tool_calls[0].function.name");
  EXPECT_EQ(param_of(u + R"({"role":"assistant","tool_calls":[{"type":"x","function":{"name":"f"}}]}]})"),
            "messages[1].tool_calls[0].type");
  EXPECT_EQ(param_of(u + R"({"role":"tool","tool_call_id":5,"content":"r"}]})"), "messages[1].tool_call_id");
  EXPECT_EQ(param_of(u + R"({"role":"function","content":"r"}]})"), "messages[1].role");
}

JobResult result(std::string text, FinishReason f = FinishReason::kStop) {
  JobResult r;
  r.text = std::move(text);
  r.finish = f;
  r.prompt_tokens = 3;
  r.completion_tokens = 4;
  return r;
}

const std::string kCall = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";

TEST(OpenAiTools, ResponseWithToolCalls) {
  const ToolRequest tr = parse_tool_request(body(""));
  const ResponseMeta m{"chatcmpl-x", 1, "tiny"};
  json j = chat_tool_response(m, result(kCall), ToolFormat::kXml, tr);
  const json& msg = j["choices"][0]["message"];
  EXPECT_TRUE(msg["content"].is_null());
  ASSERT_EQ(msg["tool_calls"].size(), 1u);
  EXPECT_EQ(msg["tool_calls"][0]["type"], "function");
  EXPECT_EQ(msg["tool_calls"][0]["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(msg["tool_calls"][0]["function"]["arguments"], R"({"city": "Oslo"})");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(j["usage"]["total_tokens"], 7);
  // Text only: content, no tool_calls, finish as generated.
  j = chat_tool_response(m, result("Hello"), ToolFormat::kXml, tr);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  // tool_choice none: a call-shaped reply stays text.
  const ToolRequest none = parse_tool_request(body(R"(,"tool_choice":"none")"));
  j = chat_tool_response(m, result(kCall), ToolFormat::kXml, none);
  EXPECT_EQ(j["choices"][0]["message"]["content"], kCall);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  // parallel_tool_calls false keeps the first call; ReAct replies are parsed the same way.
  const ToolRequest one = parse_tool_request(body(R"(,"parallel_tool_calls":false)"));
  j = chat_tool_response(m, result(kCall + "\n" + kCall), ToolFormat::kXml, one);
  EXPECT_EQ(j["choices"][0]["message"]["tool_calls"].size(), 1u);
  j = chat_tool_response(m, result("Thought: look\nAction: get_weather\nAction Input: {\"city\": \"Oslo\"}\n"),
                         ToolFormat::kReact, tr);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "look");
  EXPECT_EQ(j["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], R"({"city": "Oslo"})");
  j = chat_tool_response(m, result("Thought: done\nFinal Answer: cold"), ToolFormat::kReact, none);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "cold");
}

TEST(OpenAiTools, StreamDeltasAsOpenAiSendsThem) {
  const ToolRequest tr = parse_tool_request(body(""));
  ToolDeltaStream s({"chatcmpl-x", 1, "tiny"}, ToolFormat::kXml, tr);
  std::vector<json> chunks;
  const std::string text = "Checking.\n" + kCall + "\n" + kCall;
  for (size_t i = 0; i < text.size(); i += 5)
    for (json& c : s.push(text.substr(i, 5))) chunks.push_back(std::move(c));
  for (json& c : s.finish(FinishReason::kStop)) chunks.push_back(std::move(c));
  std::string content;
  std::vector<json> deltas;
  for (const json& c : chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    const json& d = c["choices"][0]["delta"];
    if (d.contains("content")) content += d["content"].get<std::string>();
    if (d.contains("tool_calls")) deltas.push_back(d["tool_calls"][0]);
  }
  EXPECT_EQ(content, "Checking.");
  ASSERT_EQ(deltas.size(), 4u);
  for (int k = 0; k < 2; ++k) {
    const json& head = deltas[2 * k];
    EXPECT_EQ(head["index"], k);
    EXPECT_EQ(head["type"], "function");
    EXPECT_EQ(head["id"].get<std::string>().substr(0, 5), "call_");
    EXPECT_EQ(head["function"]["name"], "get_weather");
    EXPECT_EQ(head["function"]["arguments"], "");
    const json& args = deltas[2 * k + 1];
    EXPECT_EQ(args["index"], k);
    EXPECT_FALSE(args.contains("id"));
    EXPECT_EQ(args["function"]["arguments"], R"({"city": "Oslo"})");
  }
  EXPECT_NE(deltas[0]["id"], deltas[2]["id"]);
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(chunks.back()["choices"][0]["delta"], json::object());
  EXPECT_EQ(s.calls_sent(), 2);
}

}  // namespace
}  // namespace dm
