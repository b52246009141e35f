#include "devops_model/generate/generation_params.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/limits.h"
#include "devops_model/core/mapped_file.h"

namespace dm {
using nlohmann::json;

namespace {

// Bounds of the integer fields: lengths up to the longest context a config may declare (model/config.cpp).
constexpr int64_t kMaxTokens = int64_t{1} << 24;

// An integer field in [lo, hi]; floats (1e12) and out-of-range values are Error(kFormat) naming it.
int64_t int_in(const json& v, const std::string& field, int64_t lo, int64_t hi, const std::string& source) {
  if (!v.is_number_integer()) fail(ErrorKind::kFormat, source, ": field ", field, " must be an integer");
  // nlohmann stores every non-negative integer as unsigned: compare in the type it holds.
  const bool out = v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(hi) ||
                                                (lo > 0 && v.get<uint64_t>() < static_cast<uint64_t>(lo))
                                          : v.get<int64_t>() > hi || v.get<int64_t>() < lo;
  if (out)
    fail(ErrorKind::kFormat, source, ": field ", field, " = ", v.dump(), " is out of range [", lo, ", ", hi, "]");
  return v.get<int64_t>();
}

// A finite number field.
double number(const json& v, const char* field, const std::string& source) {
  if (!v.is_number()) fail(ErrorKind::kFormat, source, ": field ", field, " must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(ErrorKind::kFormat, source, ": field ", field, " must be finite");
  return d;
}

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

int32_t token_id(const json& v, const std::string& field, const std::string& source) {
  return static_cast<int32_t>(int_in(v, field, 0, kMaxVocabSize - 1, source));
}

std::vector<int32_t> int_or_list(const json& v, const std::string& field, const std::string& source) {
  if (v.is_number()) return {token_id(v, field, source)};
  if (!v.is_array()) fail(ErrorKind::kFormat, source, ": field ", field, ": expected an integer or a list of integers");
  std::vector<int32_t> r;
  for (size_t i = 0; i < v.size(); ++i) r.push_back(token_id(v[i], str_cat(field, "[", i, "]"), source));
  return r;
}

void read_numbers(const json& j, GenerationParams& p, const std::string& source) {
  if (present(j, "do_sample")) {
    if (!j["do_sample"].is_boolean()) fail(ErrorKind::kFormat, source, ": field do_sample must be true or false");
    p.do_sample = j["do_sample"].get<bool>();
  }
  if (present(j, "temperature")) p.temperature = number(j["temperature"], "temperature", source);
  if (present(j, "top_p")) p.top_p = number(j["top_p"], "top_p", source);
  if (present(j, "repetition_penalty"))
    p.repetition_penalty = number(j["repetition_penalty"], "repetition_penalty", source);
  if (present(j, "top_k")) p.top_k = static_cast<int>(int_in(j["top_k"], "top_k", 0, kMaxVocabSize, source));
  if (present(j, "max_new_tokens"))
    p.max_new_tokens = static_cast<int>(int_in(j["max_new_tokens"], "max_new_tokens", 1, kMaxTokens, source));
  if (present(j, "max_window_size"))
    p.max_window_size = static_cast<int>(int_in(j["max_window_size"], "max_window_size", 1, kMaxTokens, source));
  if (p.temperature < 0) fail(ErrorKind::kFormat, source, ": field temperature must be >= 0");
  if (p.top_p <= 0 || p.top_p > 1) fail(ErrorKind::kFormat, source, ": field top_p must be in (0, 1]");
  if (p.repetition_penalty <= 0) fail(ErrorKind::kFormat, source, ": field repetition_penalty must be > 0");
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
  p.source = source;
  read_numbers(j, p, source);
  if (present(j, "chat_format")) {
    const json& f = j["chat_format"];
    if (!f.is_string() || (f != "chatml" && f != "raw"))
      fail(ErrorKind::kFormat, source, ": field chat_format must be \"chatml\" or \"raw\"");
    p.chat_format = f.get<std::string>();
  }
  if (present(j, "eos_token_id")) p.eos_token_ids = int_or_list(j["eos_token_id"], "eos_token_id", source);
  if (present(j, "pad_token_id")) p.pad_token_id = token_id(j["pad_token_id"], "pad_token_id", source);
  if (present(j, "stop_words_ids")) {
    const json& s = j["stop_words_ids"];
    if (!s.is_array()) fail(ErrorKind::kFormat, source, ": field stop_words_ids must be a list of id lists");
    for (size_t i = 0; i < s.size(); ++i)
      p.stop_words_ids.push_back(int_or_list(s[i], str_cat("stop_words_ids[", i, "]"), source));
  }
  return p;
}

void check_generation_params(const GenerationParams& p, int32_t vocab_size) {
  const std::string source = p.source.empty() ? "generation settings" : p.source;
  auto check = [&](int32_t id, const std::string& field) {
    if (id < 0 || id >= vocab_size)
      fail(ErrorKind::kFormat, source, ": field ", field, " = ", id, " is not a token id of the model (vocab_size ",
           vocab_size, ")");
  };
  for (size_t i = 0; i < p.eos_token_ids.size(); ++i) check(p.eos_token_ids[i], str_cat("eos_token_id[", i, "]"));
  if (p.pad_token_id) check(*p.pad_token_id, "pad_token_id");
  for (size_t i = 0; i < p.stop_words_ids.size(); ++i)
    for (int32_t id : p.stop_words_ids[i]) check(id, str_cat("stop_words_ids[", i, "]"));
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
