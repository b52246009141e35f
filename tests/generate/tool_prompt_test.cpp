// Tool prompts byte for byte against the real templates' renderings.
//
// Source of the expected strings (ChatML families): the chat_template of Qwen2.5-Instruct's
// tokenizer_config.json (Qwen2.5-7B-Instruct, the "{%- if tools %} ... <tool_call> ... <tool_response>"
// template) and of Qwen3's (Qwen3-0.6B, with the multi_step_tool / last_query_index / reasoning_content
// rules), rendered with jinja2 3.1.6 the way transformers' apply_chat_template does: a sandboxed
// environment with trim_blocks and lstrip_blocks, `tojson` = json.dumps(x, ensure_ascii=False) (keys in
// the order given, ", " and ": " separators), add_generation_prompt=True, and the assistant tool_calls'
// "arguments" JSON strings turned into objects first, as vLLM does before templating (a string that is
// not JSON stays a string). Rules this fixes: the "# Tools" block joins the system text with "\n\n"
// (Qwen2.5: the default "You are Qwen, ..." sentence when there is no system message; Qwen3: nothing);
// consecutive tool messages share one user turn; an assistant message with calls shows its content, then
// one "<tool_call>\n{...}\n</tool_call>" per call, each after a newline.
//
// Source (Qwen1 / DevOps-Model): Qwen-7B-Chat's openai_api.py (QwenLM/Qwen): TOOL_DESC, REACT_INSTRUCTION
// and parse_messages, then model.chat's make_context (raw_text) or text_complete_last_message when the
// last message is a tool result. Those steps were run in Python on the same conversations given in
// Qwen's own `functions` / `function_call` / role "function" form; the OpenAI tool_calls below map to
// them one call per Action step, each followed by its result.
#include "devops_model/generate/tool_prompt.h"

#include <gtest/gtest.h>

#include "devops_model/core/error.h"
#include "test_util.h"

namespace dm {
namespace {

const std::string kFix = DM_FIXTURES_DIR;

ToolSpec tool(std::string name, std::string description, std::string parameters, std::string source) {
  ToolSpec t;
  t.name = std::move(name);
  t.description = std::move(description);
  t.parameters = std::move(parameters);
  t.source = std::move(source);
  return t;
}

// The two tools of the ChatML cases, as a client sends them (floats 1e-05 and 2.0 check Python's repr).
const std::string kWeatherParams =
    R"({"type": "object", "properties": {"city": {"type": "string", "description": "城市"},)"
    R"( "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "default": 1},)"
    R"( "threshold": {"type": "number", "default": 1e-05}, "ratio": {"type": "number", "default": 2.0}},)"
    R"( "required": ["city"]})";
const ToolSpec kWeather = tool("get_weather", "Get the current weather in a city (°C).", kWeatherParams,
                               R"({"type":"function","function":{"name":"get_weather",)"
                               R"("description":"Get the current weather in a city (°C).","parameters":)" +
                                   kWeatherParams + "}}");
const std::string kKubectlParams =
    R"({"type":"object","properties":{"args":{"type":"array","items":{"type":"string"}}},"required":["args"]})";
const ToolSpec kKubectl = tool("run_kubectl", "Run a read-only kubectl command.", kKubectlParams,
                               R"({"type": "function", "function": {"name": "run_kubectl",)"
                               R"( "description": "Run a read-only kubectl command.", "parameters": )" +
                                   kKubectlParams + R"(, "strict": true}})");

ChatMessage msg(std::string role, std::string content) { return {std::move(role), std::move(content), {}, {}}; }
ChatMessage calls(std::string content, std::vector<ToolCall> c) {
  return {"assistant", std::move(content), std::move(c), {}};
}
ChatMessage result(std::string id, std::string content) { return {"tool", std::move(content), {}, std::move(id)}; }

constexpr std::string_view kQwen25System = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

TEST(ToolPromptChatml, Qwen25SystemToolsParallelCallsAndMergedResults) {
  const std::vector<ChatMessage> m = {
      msg("system", "You are a DevOps assistant."),
      msg("user", "Weather in Paris and pods in prod?"),
      calls("", {{"call_1", "get_weather", R"({"city": "Paris", "unit":"celsius"})"},
                 {"call_2", "run_kubectl", R"({"args": ["get", "pods", "-n", "prod"]})"}}),
      result("call_1", R"({"temp": 21.5})"),
      result("call_2", "NAME READY\nweb-1 1/1"),
      msg("assistant", "21.5 °C; web-1 is ready."),
      msg("user", "Thanks. Again for Berlin?"),
  };
  const std::string want =
      "<|im_start|>system\n"
      "You are a DevOps assistant.\n"
      "\n"
      "# Tools\n"
      "\n"
      "You may call one or more functions to assist with the user query.\n"
      "\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n"
      "<tools>\n"
      "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
      "\"description\": \"Get the current weather in a city (°C).\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", "
      "\"fahrenheit\"]}, \"days\": {\"type\": \"integer\", \"default\": 1}, "
      "\"threshold\": {\"type\": \"number\", \"default\": 1e-05}, \"ratio\": {\"type\": \"number\", "
      "\"default\": 2.0}}, \"required\": [\"city\"]}}}\n"
      "{\"type\": \"function\", \"function\": {\"name\": \"run_kubectl\", "
      "\"description\": \"Run a read-only kubectl command.\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"args\": {\"type\": \"array\", "
      "\"items\": {\"type\": \"string\"}}}, \"required\": [\"args\"]}, \"strict\": true}}\n"
      "</tools>\n"
      "\n"
      "For each function call, "
      "return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
      "<tool_call>\n"
      "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "Weather in Paris and pods in prod?<|im_end|>\n"
      "<|im_start|>assistant\n"
      "<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n"
      "</tool_call>\n"
      "<tool_call>\n"
      "{\"name\": \"run_kubectl\", \"arguments\": {\"args\": [\"get\", \"pods\", \"-n\", \"prod\"]}}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "<tool_response>\n"
      "{\"temp\": 21.5}\n"
      "</tool_response>\n"
      "<tool_response>\n"
      "NAME READY\n"
      "web-1 1/1\n"
      "</tool_response><|im_end|>\n"
      "<|im_start|>assistant\n"
      "21.5 °C; web-1 is ready.<|im_end|>\n"
      "<|im_start|>user\n"
      "Thanks. Again for Berlin?<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(render_chatml_tools(m, {kWeather, kKubectl}, kQwen25System, false), want);
}

TEST(ToolPromptChatml, Qwen25DefaultSystemSentence) {
  const std::string want =
      "<|im_start|>system\n"
      "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n"
      "\n"
      "# Tools\n"
      "\n"
      "You may call one or more functions to assist with the user query.\n"
      "\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n"
      "<tools>\n"
      "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
      "\"description\": \"Get the current weather in a city (°C).\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", "
      "\"fahrenheit\"]}, \"days\": {\"type\": \"integer\", \"default\": 1}, "
      "\"threshold\": {\"type\": \"number\", \"default\": 1e-05}, \"ratio\": {\"type\": \"number\", "
      "\"default\": 2.0}}, \"required\": [\"city\"]}}}\n"
      "</tools>\n"
      "\n"
      "For each function call, "
      "return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
      "<tool_call>\n"
      "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "Weather in Oslo?<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(render_chatml_tools({msg("user", "Weather in Oslo?")}, {kWeather}, kQwen25System, false), want);
}

TEST(ToolPromptChatml, Qwen25ToolHistoryWithoutToolsAndNonJsonArguments) {
  const std::vector<ChatMessage> m = {
      msg("user", "List pods"),
      calls("Let me look.", {{"c1", "run_kubectl", "not json"}}),  // Qwen2.5: tojson of the string
      result("c1", "web-1"),
      msg("user", "ok"),
  };
  const std::string want =
      "<|im_start|>system\n"
      "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\n"
      "List pods<|im_end|>\n"
      "<|im_start|>assistant\n"
      "Let me look.\n"
      "<tool_call>\n"
      "{\"name\": \"run_kubectl\", \"arguments\": \"not json\"}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "<tool_response>\n"
      "web-1\n"
      "</tool_response><|im_end|>\n"
      "<|im_start|>user\n"
      "ok<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(render_chatml_tools(m, {}, kQwen25System, false), want);
}

TEST(ToolPromptChatml, Qwen3MultiStepReasoningAfterTheLastQuery) {
  const std::vector<ChatMessage> m = {
      msg("user", "Is prod healthy?"),
      calls("<think>\nCheck pods first.\n</think>\n\nChecking.",
            {{"a", "run_kubectl", R"({"args": ["get", "pods"]})"}}),
      result("a", "web-1 CrashLoopBackOff"),
      calls("", {{"b", "run_kubectl", R"({"args": ["logs", "web-1"]})"}, {"c", "get_weather", "raw args"}}),
      result("b", "OOMKilled"),
      result("c", "sunny"),
  };
  const std::string want =
      "<|im_start|>system\n"
      "# Tools\n"
      "\n"
      "You may call one or more functions to assist with the user query.\n"
      "\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n"
      "<tools>\n"
      "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
      "\"description\": \"Get the current weather in a city (°C).\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", "
      "\"fahrenheit\"]}, \"days\": {\"type\": \"integer\", \"default\": 1}, "
      "\"threshold\": {\"type\": \"number\", \"default\": 1e-05}, \"ratio\": {\"type\": \"number\", "
      "\"default\": 2.0}}, \"required\": [\"city\"]}}}\n"
      "{\"type\": \"function\", \"function\": {\"name\": \"run_kubectl\", "
      "\"description\": \"Run a read-only kubectl command.\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"args\": {\"type\": \"array\", "
      "\"items\": {\"type\": \"string\"}}}, \"required\": [\"args\"]}, \"strict\": true}}\n"
      "</tools>\n"
      "\n"
      "For each function call, "
      "return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
      "<tool_call>\n"
      "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "Is prod healthy?<|im_end|>\n"
      "<|im_start|>assistant\n"
      "<think>\n"
      "Check pods first.\n"
      "</think>\n"
      "\n"
      "Checking.\n"
      "<tool_call>\n"
      "{\"name\": \"run_kubectl\", \"arguments\": {\"args\": [\"get\", \"pods\"]}}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "<tool_response>\n"
      "web-1 CrashLoopBackOff\n"
      "</tool_response><|im_end|>\n"
      "<|im_start|>assistant\n"
      "<tool_call>\n"
      "{\"name\": \"run_kubectl\", \"arguments\": {\"args\": [\"logs\", \"web-1\"]}}\n"
      "</tool_call>\n"
      "<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": raw args}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "<tool_response>\n"
      "OOMKilled\n"
      "</tool_response>\n"
      "<tool_response>\n"
      "sunny\n"
      "</tool_response><|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(render_chatml_tools(m, {kWeather, kKubectl}, "", true), want);
}

TEST(ToolPromptChatml, Qwen3SystemEarlierThinkingDroppedThinkingOff) {
  const std::vector<ChatMessage> m = {
      msg("system", "Be brief."),
      msg("user", "hi"),
      msg("assistant", "<think>\ngreet\n</think>\n\nHello!"),
      msg("user", "<tool_response>\nx\n</tool_response>"),  // not a query: the last one is "Weather?"
      msg("user", "Weather?"),
  };
  const std::string want =
      "<|im_start|>system\n"
      "Be brief.\n"
      "\n"
      "# Tools\n"
      "\n"
      "You may call one or more functions to assist with the user query.\n"
      "\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n"
      "<tools>\n"
      "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
      "\"description\": \"Get the current weather in a city (°C).\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", "
      "\"fahrenheit\"]}, \"days\": {\"type\": \"integer\", \"default\": 1}, "
      "\"threshold\": {\"type\": \"number\", \"default\": 1e-05}, \"ratio\": {\"type\": \"number\", "
      "\"default\": 2.0}}, \"required\": [\"city\"]}}}\n"
      "</tools>\n"
      "\n"
      "For each function call, "
      "return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
      "<tool_call>\n"
      "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "hi<|im_end|>\n"
      "<|im_start|>assistant\n"
      "Hello!<|im_end|>\n"
      "<|im_start|>user\n"
      "<tool_response>\n"
      "x\n"
      "</tool_response><|im_end|>\n"
      "<|im_start|>user\n"
      "Weather?<|im_end|>\n"
      "<|im_start|>assistant\n"
      "<think>\n"
      "\n"
      "</think>\n"
      "\n";
  EXPECT_EQ(render_chatml_tools(m, {kWeather}, "", true, true, /*close_thinking=*/true), want);
}

TEST(ToolPromptChatml, Qwen3ToolHistoryWithoutTools) {
  const std::vector<ChatMessage> m = {msg("user", "q"), calls("", {{"x", "f", R"({"a": 1})"}}), result("x", "r")};
  const std::string want =
      "<|im_start|>user\n"
      "q<|im_end|>\n"
      "<|im_start|>assistant\n"
      "<tool_call>\n"
      "{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n"
      "</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "<tool_response>\n"
      "r\n"
      "</tool_response><|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(render_chatml_tools(m, {}, "", true), want);
}

TEST(ToolPromptChatml, PythonJsonDumps) {
  EXPECT_EQ(
      python_json_dumps(R"({"b":1,"a":[1.0,2.5,1e-5,1e16,1e15,-0.0,0.0001,123456789.125,true,null,{}],"c":[]})"),
      R"({"b": 1, "a": [1.0, 2.5, 1e-05, 1e+16, 1000000000000000.0, -0.0, 0.0001, 123456789.125, true, null, {}], "c": []})");
  EXPECT_EQ(python_json_dumps(R"({"s":"é\n\u0001\"\\/ \u2028"})"), "{\"s\": \"é\\n\\u0001\\\"\\\\/ \u2028\"}");
  EXPECT_EQ(python_json_dumps("1e300"), "1e+300");
  EXPECT_EQ(python_json_dumps("-1.5e-7"), "-1.5e-07");
  EXPECT_THROW(python_json_dumps("{"), Error);
}

// ---- Qwen1 ReAct

const ToolSpec kWeather1 =
    tool("get_weather", "Get the current weather in a city (°C).",
         R"({"type": "object", "properties": {"city": {"type": "string", "description": "城市"},)"
         R"( "threshold": {"type": "number", "default": 1e-05}}, "required": ["city"]})",
         "");
const ToolSpec kKubectl1 = tool("run_kubectl", "Run a read-only kubectl command.", kKubectlParams, "");

std::string react_text(const std::vector<ChatMessage>& m) {
  auto tok = Tokenizer::from_dir(kFix + "/tiny-qwen1");
  return encode_qwen1_react(*tok, qwen1_react_conversation(m, {kWeather1, kKubectl1}), 1 << 20).raw_text;
}

TEST(ToolPromptReact, SingleQuestion) {
  const std::string want =
      "<|im_start|>system\n"
      "You are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\n"
      "Answer the following questions as best you can. You have access to the following APIs:\n"
      "\n"
      "get_weather: Call this tool to interact with the get_weather API. What is the "
      "get_weather API useful for? Get the current weather in a city (°C). Parameters: "
      "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"threshold\": {\"type\": \"number\", \"default\": 1e-05}}, "
      "\"required\": [\"city\"]}\n"
      "\n"
      "run_kubectl: Call this tool to interact with the run_kubectl API. What is the "
      "run_kubectl API useful for? Run a read-only kubectl command. Parameters: "
      "{\"type\": \"object\", \"properties\": {\"args\": {\"type\": \"array\", "
      "\"items\": {\"type\": \"string\"}}}, \"required\": [\"args\"]}\n"
      "\n"
      "Use the following format:\n"
      "\n"
      "Question: the input question you must answer\n"
      "Thought: you should always think about what to do\n"
      "Action: the action to take, should be one of [get_weather, run_kubectl]\n"
      "Action Input: the input to the action\n"
      "Observation: the result of the action\n"
      "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
      "Thought: I now know the final answer\n"
      "Final Answer: the final answer to the original input question\n"
      "\n"
      "Begin!\n"
      "\n"
      "Question: Weather in Paris?<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(react_text({msg("user", "Weather in Paris?")}), want);
}

TEST(ToolPromptReact, AfterAToolResultTheLastTurnIsContinued) {
  const std::vector<ChatMessage> m = {
      msg("user", "Weather in Paris?"),
      calls("I should ask the weather API.", {{"call_9", "get_weather", R"({"city": "Paris"})"}}),
      result("call_9", R"({"temp": 21.5})"),
  };
  const std::string want =
      "<|im_start|>system\n"
      "You are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\n"
      "Answer the following questions as best you can. You have access to the following APIs:\n"
      "\n"
      "get_weather: Call this tool to interact with the get_weather API. What is the "
      "get_weather API useful for? Get the current weather in a city (°C). Parameters: "
      "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"threshold\": {\"type\": \"number\", \"default\": 1e-05}}, "
      "\"required\": [\"city\"]}\n"
      "\n"
      "run_kubectl: Call this tool to interact with the run_kubectl API. What is the "
      "run_kubectl API useful for? Run a read-only kubectl command. Parameters: "
      "{\"type\": \"object\", \"properties\": {\"args\": {\"type\": \"array\", "
      "\"items\": {\"type\": \"string\"}}}, \"required\": [\"args\"]}\n"
      "\n"
      "Use the following format:\n"
      "\n"
      "Question: the input question you must answer\n"
      "Thought: you should always think about what to do\n"
      "Action: the action to take, should be one of [get_weather, run_kubectl]\n"
      "Action Input: the input to the action\n"
      "Observation: the result of the action\n"
      "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
      "Thought: I now know the final answer\n"
      "Final Answer: the final answer to the original input question\n"
      "\n"
      "Begin!\n"
      "\n"
      "Question: Weather in Paris?<|im_end|>\n"
      "<|im_start|>assistant\n"
      "Thought: I should ask the weather API.\n"
      "Action: get_weather\n"
      "Action Input: {\"city\": \"Paris\"}\n"
      "Observation: {\"temp\": 21.5}\n"
      "Thought:";
  EXPECT_EQ(react_text(m), want);
  auto tok = Tokenizer::from_dir(kFix + "/tiny-qwen1");
  const ChatPrompt p = encode_qwen1_react(*tok, qwen1_react_conversation(m, {kWeather1, kKubectl1}), 64);
  EXPECT_EQ(p.tokens, tok->encode(want, true));  // whole string, specials allowed; no window
}

TEST(ToolPromptReact, InstructionGoesToTheLastHistoryTurn) {
  const std::vector<ChatMessage> m = {
      msg("system", "\nYou are a DevOps assistant.\n"),
      msg("user", "Weather in Paris?"),
      calls("", {{"call_1", "get_weather", R"({"city": "Paris"})"}}),
      result("call_1", R"({"temp": 21.5})"),
      msg("assistant", "It is 21.5 °C."),
      msg("user", "And the pods?"),
  };
  const std::string want =
      "<|im_start|>system\n"
      "You are a DevOps assistant.<|im_end|>\n"
      "<|im_start|>user\n"
      "Answer the following questions as best you can. You have access to the following APIs:\n"
      "\n"
      "get_weather: Call this tool to interact with the get_weather API. What is the "
      "get_weather API useful for? Get the current weather in a city (°C). Parameters: "
      "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"threshold\": {\"type\": \"number\", \"default\": 1e-05}}, "
      "\"required\": [\"city\"]}\n"
      "\n"
      "run_kubectl: Call this tool to interact with the run_kubectl API. What is the "
      "run_kubectl API useful for? Run a read-only kubectl command. Parameters: "
      "{\"type\": \"object\", \"properties\": {\"args\": {\"type\": \"array\", "
      "\"items\": {\"type\": \"string\"}}}, \"required\": [\"args\"]}\n"
      "\n"
      "Use the following format:\n"
      "\n"
      "Question: the input question you must answer\n"
      "Thought: you should always think about what to do\n"
      "Action: the action to take, should be one of [get_weather, run_kubectl]\n"
      "Action Input: the input to the action\n"
      "Observation: the result of the action\n"
      "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
      "Thought: I now know the final answer\n"
      "Final Answer: the final answer to the original input question\n"
      "\n"
      "Begin!\n"
      "\n"
      "Question: Weather in Paris?<|im_end|>\n"
      "<|im_start|>assistant\n"
      "Thought: \n"
      "Action: get_weather\n"
      "Action Input: {\"city\": \"Paris\"}\n"
      "Observation: {\"temp\": 21.5}\n"
      "Thought: I now know the final answer.\n"
      "Final Answer: It is 21.5 °C.<|im_end|>\n"
      "<|im_start|>user\n"
      "And the pods?<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(react_text(m), want);
}

TEST(ToolPromptReact, TwoCallsInOneMessageOneStepEachResultsMatchedById) {
  const std::vector<ChatMessage> m = {
      msg("user", "Weather and pods?"),
      calls("Both.",
            {{"w", "get_weather", R"({"city": "Oslo"})"}, {"k", "run_kubectl", R"({"args": ["get", "pods"]})"}}),
      result("k", "web-1 Running"),
      result("w", "cold"),
  };
  const std::string want =
      "<|im_start|>system\n"
      "You are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\n"
      "Answer the following questions as best you can. You have access to the following APIs:\n"
      "\n"
      "get_weather: Call this tool to interact with the get_weather API. What is the "
      "get_weather API useful for? Get the current weather in a city (°C). Parameters: "
      "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
      "\"description\": \"城市\"}, \"threshold\": {\"type\": \"number\", \"default\": 1e-05}}, "
      "\"required\": [\"city\"]}\n"
      "\n"
      "run_kubectl: Call this tool to interact with the run_kubectl API. What is the "
      "run_kubectl API useful for? Run a read-only kubectl command. Parameters: "
      "{\"type\": \"object\", \"properties\": {\"args\": {\"type\": \"array\", "
      "\"items\": {\"type\": \"string\"}}}, \"required\": [\"args\"]}\n"
      "\n"
      "Use the following format:\n"
      "\n"
      "Question: the input question you must answer\n"
      "Thought: you should always think about what to do\n"
      "Action: the action to take, should be one of [get_weather, run_kubectl]\n"
      "Action Input: the input to the action\n"
      "Observation: the result of the action\n"
      "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
      "Thought: I now know the final answer\n"
      "Final Answer: the final answer to the original input question\n"
      "\n"
      "Begin!\n"
      "\n"
      "Question: Weather and pods?<|im_end|>\n"
      "<|im_start|>assistant\n"
      "Thought: Both.\n"
      "Action: get_weather\n"
      "Action Input: {\"city\": \"Oslo\"}\n"
      "Observation: cold\n"
      "Thought: \n"
      "Action: run_kubectl\n"
      "Action Input: {\"args\": [\"get\", \"pods\"]}\n"
      "Observation: web-1 Running\n"
      "Thought:";
  EXPECT_EQ(react_text(m), want);
}

TEST(ToolPromptReact, QwensRefusals) {
  auto refused = [](const std::vector<ChatMessage>& m) {
    try {
      qwen1_react_conversation(m, {kWeather1});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refused({msg("system", "s")}).find("Expecting at least one user message"), std::string::npos);
  EXPECT_NE(refused({result("x", "r"), msg("user", "q")}).find("Expecting role assistant before role function"),
            std::string::npos);
  EXPECT_NE(refused({msg("user", "a"), msg("system", "late"), msg("user", "b")}).find("Incorrect role system"),
            std::string::npos);
  EXPECT_NE(refused({msg("user", "a"), msg("user", "b")}).find("Invalid request"), std::string::npos);
}

TEST(ToolPromptReact, NoToolsNoInstruction) {
  EXPECT_EQ(qwen1_react_instruction({}), "");
  const ReactConversation c = qwen1_react_conversation({msg("user", " q ")}, {});
  EXPECT_EQ(c.query, " q");  // lstrip('\n').rstrip(), as Qwen's code
  EXPECT_EQ(c.system, "You are a helpful assistant.");
}

}  // namespace
}  // namespace dm
