// The OpenAI wire format (transport side): request parsing with per-field validation, and the JSON of
// responses, stream chunks and errors, shaped as api.openai.com's so that the official clients work.
// Pure functions: no sockets, no model.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "devops_model/generate/chat_format.h"
#include "devops_model/generate/generation_params.h"
#include "devops_model/serve/scheduler.h"
#include "serve/response_format.h"

namespace dm {

// A request the server refuses: HTTP status + OpenAI error object fields.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "invalid_request_error")
      : std::runtime_error(std::move(message)),
        status(status),
        param(std::move(param)),
        code(std::move(code)),
        type(std::move(type)) {}
  int status;
  std::string param, code, type;
};

// POST /v1/chat/completions or /v1/completions, validated.
struct ApiRequest {
  bool chat = true;
  std::string model;                  // empty: the served model
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::optional<double> temperature, top_p, repetition_penalty;
  std::optional<int> max_tokens, top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // vLLM's extension: generate max_tokens even past end-of-text (benchmarks, tests)
  // Qwen3's switch, as vLLM takes it: "chat_template_kwargs": {"enable_thinking": false} (or top level).
  bool enable_thinking = true;
  // response_format, logprobs / top_logprobs (response_format.h).
  StructuredFields structured;
};

// Throw ApiError(400) naming the field for bad JSON, wrong types or unsupported values (n != 1).
ApiRequest parse_chat_request(std::string_view body);
ApiRequest parse_completion_request(std::string_view body);

// The model's generation_config defaults overridden by the request. temperature 0 = greedy; any other
// given temperature turns sampling on. No seed: a fresh random one.
GenerationParams request_params(const ApiRequest& req, GenerationParams defaults);

// {"error": {"message", "type", "param", "code"}}
nlohmann::json error_body(const std::string& message, const std::string& type, const std::string& param,
                          const std::string& code);

// Identity of one response: id ("chatcmpl-..." / "cmpl-..."), created (unix seconds), model id.
struct ResponseMeta {
  std::string id;
  long long created = 0;
  std::string model;
};
ResponseMeta new_response_meta(bool chat, const std::string& model);

nlohmann::json usage_json(const JobResult& r);
// Whole (non-streamed) responses.
nlohmann::json chat_response(const ResponseMeta& m, const JobResult& r);
nlohmann::json completion_response(const ResponseMeta& m, const JobResult& r);
// Stream chunks: role (first chunk of a chat), a text delta, the final chunk with finish_reason, and the
// usage chunk (choices empty) sent when stream_options.include_usage is set.
nlohmann::json chat_chunk_role(const ResponseMeta& m);
nlohmann::json stream_chunk_text(const ResponseMeta& m, bool chat, std::string_view text);
nlohmann::json stream_chunk_finish(const ResponseMeta& m, bool chat, FinishReason f);
nlohmann::json stream_chunk_usage(const ResponseMeta& m, bool chat, const JobResult& r);
// "data: {json}\n\n"
std::string sse_event(const nlohmann::json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

nlohmann::json models_list(const std::string& model, long long created);

}  // namespace dm
