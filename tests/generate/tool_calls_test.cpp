// Tool calls parsed out of replies (Qwen2.5/3 <tool_call> blocks, Qwen1 ReAct), whole and streamed in
// every split, and the grammars that force a call.
#include "devops_model/generate/tool_calls.h"

#include <gtest/gtest.h>

#include "devops_model/core/error.h"
#include "devops_model/generate/grammar.h"
#include "devops_model/generate/grammar_matcher.h"

namespace dm {
namespace {

struct Streamed {
  std::string content;
  std::vector<ParsedToolCall> calls;
  bool text_after_call_start = false;
};

Streamed stream(ToolFormat f, const std::vector<std::string>& pieces) {
  ToolReplyStream s(f);
  Streamed out;
  auto take = [&](std::vector<ToolReplyStream::Event> ev) {
    for (auto& e : ev) {
      if (e.is_call) {
        out.calls.push_back(e.call);
      } else {
        out.content += e.text;
      }
    }
  };
  for (const auto& p : pieces) take(s.push(p));
  take(s.finish());
  return out;
}

// Whole, in two pieces at every byte, and byte by byte: the same content and calls.
void expect_streams_like_whole(ToolFormat f, const std::string& text) {
  const ParsedReply whole = parse_tool_reply(f, text);
  const std::string content = whole.has_content ? whole.content : "";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const Streamed s = stream(f, {text.substr(0, cut), text.substr(cut)});
    EXPECT_EQ(s.content, content) << "cut " << cut << " of " << text;
    EXPECT_EQ(s.calls, whole.calls) << "cut " << cut << " of " << text;
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  const Streamed s = stream(f, bytes);
  EXPECT_EQ(s.content, content) << text;
  EXPECT_EQ(s.calls, whole.calls) << text;
}

const std::string kCall1 =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\",\"days\":2}}\n</tool_call>";
const std::string kCall2 =
    "<tool_call>\n{\"name\": \"run_kubectl\", \"arguments\": {\"args\": [\"get\", \"pods\"]}}\n</tool_call>";

// A forced call cut short by max_tokens: returned with the arguments so far when the caller says so
// (forced call, finish_reason length); otherwise the unclosed block stays text.
TEST(ToolCallsXml, CallCutOffByLengthIsReturnedOnlyWhenAsked) {
  const std::string cut = kCall1.substr(0, kCall1.find("2}}"));  // inside the arguments
  const ParsedReply as_text = parse_tool_reply(ToolFormat::kXml, cut);
  EXPECT_TRUE(as_text.calls.empty());
  EXPECT_EQ(as_text.content, cut);
  const ParsedReply r = parse_tool_reply(ToolFormat::kXml, kCall2 + "\n" + cut, /*cut_off=*/true);
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0].name, "run_kubectl");
  EXPECT_EQ(r.calls[1].name, "get_weather");
  EXPECT_EQ(r.calls[1].arguments, "{\"city\": \"Paris\",\"days\":");
  EXPECT_FALSE(r.has_content);
  // Arguments complete, the wrapper cut: the arguments end where their braces balance (a brace inside a
  // string does not count).
  const std::string closed = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"}{\"}}\n</tool_";
  const ParsedReply c = parse_tool_reply(ToolFormat::kXml, closed, true);
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_EQ(c.calls[0].arguments, "{\"a\": \"}{\"}");
  // Cut before the arguments began: no name to give, so text.
  const std::string early = "<tool_call>\n{\"name\": \"get_wea";
  EXPECT_TRUE(parse_tool_reply(ToolFormat::kXml, early, true).calls.empty());
  // Streamed: the same call from finish(true), whatever the split.
  for (size_t at = 0; at <= cut.size(); ++at) {
    ToolReplyStream st(ToolFormat::kXml);
    std::vector<ToolReplyStream::Event> ev = st.push(cut.substr(0, at));
    for (auto& e : st.push(cut.substr(at))) ev.push_back(e);
    for (auto& e : st.finish(true)) ev.push_back(e);
    ASSERT_EQ(ev.size(), 1u) << at;
    EXPECT_TRUE(ev[0].is_call);
    EXPECT_EQ(ev[0].call, r.calls[1]) << at;
  }
}

TEST(ToolCallsXml, TextOnly) {
  const ParsedReply r = parse_tool_reply(ToolFormat::kXml, " Plain answer <tool no call.\n");
  EXPECT_TRUE(r.has_content);
  EXPECT_EQ(r.content, " Plain answer <tool no call.\n");
  EXPECT_TRUE(r.calls.empty());
}

TEST(ToolCallsXml, OneCallAfterText) {
  const ParsedReply r = parse_tool_reply(ToolFormat::kXml, "Let me check.\n" + kCall1);
  EXPECT_TRUE(r.has_content);
  EXPECT_EQ(r.content, "Let me check.");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, R"({"city": "Paris", "days": 2})");  // re-serialised as the template writes JSON
}

TEST(ToolCallsXml, ParallelCallsOnlyContentIsNull) {
  const ParsedReply r = parse_tool_reply(ToolFormat::kXml, kCall1 + "\n" + kCall2 + "\n");
  EXPECT_FALSE(r.has_content);
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[1].name, "run_kubectl");
  EXPECT_EQ(r.calls[1].arguments, R"({"args": ["get", "pods"]})");
}

TEST(ToolCallsXml, MalformedCallsStayText) {
  for (const std::string bad : {
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }\n</tool_call>",  // not JSON
           "<tool_call>\n[1, 2]\n</tool_call>",                                      // not an object
           "<tool_call>\n{\"arguments\": {}}\n</tool_call>",                         // no name
           "<tool_call>\n{\"name\": 3}\n</tool_call>",                               // name not a string
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}",                      // never closed
       }) {
    const ParsedReply r = parse_tool_reply(ToolFormat::kXml, "x " + bad);
    EXPECT_TRUE(r.has_content) << bad;
    EXPECT_EQ(r.content, "x " + bad);
    EXPECT_TRUE(r.calls.empty()) << bad;
  }
  // A good call next to a bad one: the bad one is content, whitespace next to the good call dropped.
  const ParsedReply r = parse_tool_reply(ToolFormat::kXml, kCall1 + "\n<tool_call>oops</tool_call>\n");
  EXPECT_EQ(r.content, "<tool_call>oops</tool_call>\n");
  EXPECT_EQ(r.calls.size(), 1u);
}

TEST(ToolCallsXml, ArgumentsAsStringOrMissing) {
  const ParsedReply r = parse_tool_reply(ToolFormat::kXml,
                                         "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>"
                                         "<tool_call>{\"name\": \"g\"}</tool_call>");
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0].arguments, R"({"a": 1})");
  EXPECT_EQ(r.calls[1].arguments, "{}");
}

TEST(ToolCallsXml, StreamedInEverySplitIsTheWholeParse) {
  for (const std::string& text : {
           "Let me check.\n" + kCall1,
           kCall1 + "\n" + kCall2,
           "a  " + kCall1 + "  b \n" + kCall2 + " c ",
           "<tool_call>oops</tool_call> " + kCall1,
           std::string("text <tool_call>{\"name\": \"f\""),
           std::string("no calls, <tool_ca"),
           std::string("  "),
       }) {
    expect_streams_like_whole(ToolFormat::kXml, text);
  }
}

TEST(ToolCallsXml, StreamNeverSendsPartOfACallAsText) {
  ToolReplyStream s(ToolFormat::kXml);
  auto ev = s.push("Checking <tool_c");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].text, "Checking");  // the space waits: dropped if a call follows
  EXPECT_TRUE(s.push("all>\n{\"name\": \"get_weather\", \"arguments\": {\"ci").empty());
  ev = s.push("ty\": \"Oslo\"}}\n</tool_call>\nDone");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(ev[0].is_call);
  EXPECT_EQ(ev[0].call.arguments, R"({"city": "Oslo"})");
  EXPECT_EQ(ev[1].text, "Done");
  EXPECT_TRUE(s.finish().empty());
}

TEST(ToolCallsReact, ActionAndInput) {
  const ParsedReply r = parse_tool_reply(
      ToolFormat::kReact, "Thought: I need the weather.\nAction: get_weather\nAction Input: {\"city\": \"Paris\"}\n");
  EXPECT_EQ(r.content, "I need the weather.");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, R"({"city": "Paris"})");  // as written
}

TEST(ToolCallsReact, ObservationEndsTheInputAndActionMayOpenTheReply) {
  const ParsedReply r =
      parse_tool_reply(ToolFormat::kReact, "Action: run_kubectl\nAction Input: {\"args\": []}\nObservation: x");
  EXPECT_FALSE(r.has_content);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, R"({"args": []})");
}

TEST(ToolCallsReact, FinalAnswerAndPlainText) {
  EXPECT_EQ(parse_tool_reply(ToolFormat::kReact, "Thought: I now know the final answer.\nFinal Answer: 42").content,
            "42");
  EXPECT_EQ(parse_tool_reply(ToolFormat::kReact, "Final Answer: a\nFinal Answer: b").content, "b");  // the last
  const ParsedReply plain = parse_tool_reply(ToolFormat::kReact, "Thought: hmm\nAction: f\n");  // no input: no call
  EXPECT_EQ(plain.content, "Thought: hmm\nAction: f\n");
  EXPECT_TRUE(plain.calls.empty());
  expect_streams_like_whole(ToolFormat::kReact, "Thought: x\nAction: f\nAction Input: {}");
  expect_streams_like_whole(ToolFormat::kReact, "Thought: x\nFinal Answer: y");
}

// ---- forced calls

ToolSpec spec(std::string name, std::string params) {
  ToolSpec t;
  t.name = std::move(name);
  t.parameters = std::move(params);
  return t;
}

bool accepts(const std::string& gbnf, const std::string& text) {
  GrammarMatcher m(Grammar::parse(gbnf));
  return m.accept_bytes(text) && m.is_complete();
}

const std::string kCityParams =
    R"({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]})";

TEST(ForcedToolCall, XmlOneToolOneCall) {
  const std::string g = forced_tool_call_gbnf(ToolFormat::kXml, {spec("get_weather", kCityParams)}, false);
  EXPECT_TRUE(
      accepts(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"))
      << g;
  EXPECT_TRUE(accepts(
      g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"P\", \"days\": 3}}\n</tool_call>"));
  EXPECT_FALSE(accepts(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"));  // required
  EXPECT_FALSE(accepts(g, "<tool_call>\n{\"name\": \"other\", \"arguments\": {\"city\": \"P\"}}\n</tool_call>"));
  EXPECT_FALSE(accepts(g,
                       "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"P\"}}\n</tool_call>\n"
                       "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Q\"}}\n</tool_call>"));
}

TEST(ForcedToolCall, XmlAnyOfSeveralToolsParallel) {
  const std::string g = forced_tool_call_gbnf(
      ToolFormat::kXml, {spec("get_weather", kCityParams), spec("ping", ""), spec("get", R"({"type": "object"})")},
      true);
  EXPECT_TRUE(accepts(g, "<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_TRUE(accepts(g,
                      "<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n</tool_call>\n"
                      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"x\"}}\n</tool_call>"));
  EXPECT_TRUE(
      accepts(g, "<tool_call>\n{\"name\": \"get\", \"arguments\": {\"any\": [1, {\"b\": null}]}}\n</tool_call>"));
  EXPECT_FALSE(accepts(g, "<tool_call>\n{\"name\": \"ping\", \"arguments\": {\"x\": 1}}\n</tool_call>"));
  // The parsed call of an accepted text is what was forced.
  const ParsedReply r = parse_tool_reply(ToolFormat::kXml,
                                         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"x\"}}\n"
                                         "</tool_call>");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, R"({"city": "x"})");
}

TEST(ForcedToolCall, React) {
  const std::string g = forced_tool_call_gbnf(ToolFormat::kReact, {spec("get_weather", kCityParams)}, true);
  const std::string text = "Thought: I should look it up.\nAction: get_weather\nAction Input: {\"city\": \"Oslo\"}";
  EXPECT_TRUE(accepts(g, text)) << g;
  EXPECT_FALSE(accepts(g, "Thought: x\ny\nAction: get_weather\nAction Input: {\"city\": \"Oslo\"}"));
  EXPECT_FALSE(accepts(g, "Thought: x\nAction: get_weather\nAction Input: {\"town\": \"Oslo\"}"));
  EXPECT_FALSE(
      accepts(g, "Thought: " + std::string(257, 'a') + "\nAction: get_weather\nAction Input: {\"city\": \"O\"}"));
  const ParsedReply r = parse_tool_reply(ToolFormat::kReact, text);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.content, "I should look it up.");
}

TEST(ForcedToolCall, SchemaErrorsNameTheTool) {
  try {
    forced_tool_call_gbnf(ToolFormat::kXml, {spec("f", R"({"type": "string", "pattern": "^a"})")}, false);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tool f: json schema: unsupported keyword 'pattern'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(forced_tool_call_gbnf(ToolFormat::kXml, {spec("bad name", "")}, false), Error);
  EXPECT_THROW(forced_tool_call_gbnf(ToolFormat::kXml, {}, false), Error);
}

}  // namespace
}  // namespace dm
