// Structured output and logprobs on the OpenAI wire (transport side, no model):
//  - `response_format` {"type": "text" | "json_object" | "json_schema", "json_schema": {"name", "schema",
//    "strict"}} -> the grammar the reply is sampled under (compiled once per distinct schema text);
//  - `logprobs` / `top_logprobs` (chat) and `logprobs` (int, completions) -> how many alternatives a job
//    reports, and the JSON of the reported values in OpenAI's shapes, whole or per stream chunk;
//  - request fields OpenAI defines that this server does not implement -> 400 naming the field.
#pragma once
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "devops_model/generate/token_logprobs.h"

namespace dm {

class Grammar;
class Tokenizer;

struct ResponseFormat {
  enum class Type { kText, kJsonObject, kJsonSchema };
  Type type = Type::kText;
  std::string name;    // json_schema.name
  std::string schema;  // json_schema.schema as JSON text, its keys in the request's order
  bool strict = false;  // accepted; the reply always follows the schema
};

// The request-level fields of structured output, logprobs and the refused extras, parsed from the body
// (`body` again as text: a schema's properties keep their order, which nlohmann::json would sort).
// chat: logprobs is a boolean with top_logprobs 0..20; completions: logprobs is an integer 0..5.
// Throws ApiError(400) naming the field.
struct StructuredFields {
  ResponseFormat response_format;
  int logprobs = -1;  // -1 off; else the number of alternatives per token
};
StructuredFields parse_structured_fields(std::string_view body, const nlohmann::json& j, bool chat);

// The grammar for `f` (nullptr for text). json_schema grammars are compiled once per distinct schema text
// and kept in a small process-wide LRU cache (kGrammarCacheSize). ApiError(400, param "response_format")
// with the compiler's message for an unsupported or invalid schema.
std::shared_ptr<const Grammar> response_format_grammar(const ResponseFormat& f);
inline constexpr size_t kGrammarCacheSize = 32;
struct GrammarCacheStats {
  long long hits = 0, compiles = 0;
  size_t entries = 0;
};
GrammarCacheStats grammar_cache_stats();

// Tokens are reported as their bytes and their text with invalid or partial UTF-8 as U+FFFD (a token may
// end inside a character).
// choices[i].logprobs of a chat completion (or of one chunk): {"content": [{"token", "logprob", "bytes",
// "top_logprobs": [{"token", "logprob", "bytes"}]}], "refusal": null}.
nlohmann::json chat_logprobs_json(const Tokenizer& tok, std::span<const TokenLogprob> lps);
// choices[i].logprobs of a text completion (or of one chunk): {"tokens", "token_logprobs",
// "top_logprobs": [{token: logprob}] (the top alternatives and the sampled token), "text_offset"}.
// text_offset counts code points of the token strings from `offset`, which is advanced past them
// (a stream passes the same counter for every chunk).
nlohmann::json completion_logprobs_json(const Tokenizer& tok, std::span<const TokenLogprob> lps, size_t& offset);

// Sets choices[0].logprobs of a whole response or a stream chunk (chat or completions shape); `offset` as
// for completion_logprobs_json.
void set_choice_logprobs(nlohmann::json& response, const Tokenizer& tok, bool chat,
                         std::span<const TokenLogprob> lps, size_t& offset);

}  // namespace dm
