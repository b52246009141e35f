#include "devops_model/generate/generation_params.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"

namespace dm {
using nlohmann::json;

namespace {

template <typename T>
void read_field(const json& j, const char* key, T* out, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    *out = j[key].get<T>();
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, source, ": field ", key, ": ", e.what());
  }
}

std::vector<int32_t> int_or_list(const json& v, const char* key, const std::string& source) {
  if (v.is_number_integer()) return {v.get<int32_t>()};
  if (v.is_array()) {
    std::vector<int32_t> r;
    for (const auto& x : v) {
      if (!x.is_number_integer()) fail(ErrorKind::kFormat, source, ": field ", key, ": expected integers");
      r.push_back(x.get<int32_t>());
    }
    return r;
  }
  fail(ErrorKind::kFormat, source, ": field ", key, ": expected an integer or a list of integers");
}

}  // namespace

GenerationParams parse_generation_params(std::string_view json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, source, ": invalid JSON: ", e.what());
  }
  if (!j.is_object()) fail(ErrorKind::kFormat, source, ": expected a JSON object");
  GenerationParams p;
  read_field(j, "do_sample", &p.do_sample, source);
  read_field(j, "temperature", &p.temperature, source);
  read_field(j, "top_k", &p.top_k, source);
  read_field(j, "top_p", &p.top_p, source);
  read_field(j, "repetition_penalty", &p.repetition_penalty, source);
  read_field(j, "max_new_tokens", &p.max_new_tokens, source);
  read_field(j, "max_window_size", &p.max_window_size, source);
  read_field(j, "chat_format", &p.chat_format, source);
  if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
    p.eos_token_ids = int_or_list(j["eos_token_id"], "eos_token_id", source);
  }
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer())
    p.pad_token_id = j["pad_token_id"].get<int32_t>();
  if (j.contains("stop_words_ids") && j["stop_words_ids"].is_array()) {
    for (const auto& s : j["stop_words_ids"]) p.stop_words_ids.push_back(int_or_list(s, "stop_words_ids", source));
  }
  if (p.temperature < 0) fail(ErrorKind::kFormat, source, ": field temperature must be >= 0");
  if (p.top_p <= 0 || p.top_p > 1) fail(ErrorKind::kFormat, source, ": field top_p must be in (0, 1]");
  if (p.top_k < 0) fail(ErrorKind::kFormat, source, ": field top_k must be >= 0");
  if (p.repetition_penalty <= 0) fail(ErrorKind::kFormat, source, ": field repetition_penalty must be > 0");
  return p;
}

GenerationParams load_generation_params(const std::string& path) {
  return parse_generation_params(read_file(path), path);
}

GenerationParams generation_params_from_dir(const std::string& dir) {
  const auto path = std::filesystem::path(dir) / "generation_config.json";
  if (!std::filesystem::exists(path)) return {};
  return load_generation_params(path.string());
}

}  // namespace dm
