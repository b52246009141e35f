// libFuzzer: arbitrary bytes as the body of each OpenAI request the server parses (chat and completions,
// with their tools / response_format / logprobs fields, and embeddings), and as a model's reply to the
// tool-call parsers. A request either parses or is refused with ApiError 400; nothing else may escape.
// A reply always parses (both formats, cut off or not), and streamed in two pieces at any split it gives
// the same content and calls as whole.
#include <cstdint>
#include <string>
#include <string_view>

#include "devops_model/generate/tool_calls.h"
#include "serve/embeddings.h"
#include "serve/openai_api.h"
#include "serve/openai_tools.h"

namespace {

template <typename Parse>
void expect_parsed_or_400(Parse parse) {
  try {
    parse();
  } catch (const dm::ApiError& e) {
    if (e.status != 400) __builtin_trap();
  }
}

void check_reply(dm::ToolFormat format, std::string_view text, size_t split, bool cut_off) {
  const dm::ParsedReply whole = dm::parse_tool_reply(format, text, cut_off);
  dm::ToolReplyStream s(format);
  std::string content;
  std::vector<dm::ParsedToolCall> calls;
  auto take = [&](std::vector<dm::ToolReplyStream::Event> events) {
    for (auto& e : events) {
      if (e.is_call) {
        calls.push_back(std::move(e.call));
      } else {
        content += e.text;
      }
    }
  };
  take(s.push(text.substr(0, split)));
  take(s.push(text.substr(split)));
  take(s.finish(cut_off));
  if (calls != whole.calls || content != (whole.has_content ? whole.content : std::string())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  expect_parsed_or_400([&] {
    const dm::ApiRequest r = dm::parse_chat_request(text);
    (void)dm::request_params(r, dm::GenerationParams{});
  });
  expect_parsed_or_400([&] { (void)dm::parse_completion_request(text); });
  expect_parsed_or_400([&] { (void)dm::parse_tool_request(text); });
  expect_parsed_or_400([&] { (void)dm::parse_embeddings_request(text); });
  const size_t split = size ? data[0] % (size + 1) : 0;
  for (const dm::ToolFormat f : {dm::ToolFormat::kXml, dm::ToolFormat::kReact}) {
    check_reply(f, text, split, false);
    check_reply(f, text, split, true);
  }
  return 0;
}
