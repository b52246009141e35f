// SFT records -> ChatML ids with the seed's masking (src/llmtuner/extras/template.py `chatml`, DevOps fork).
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "train/sft_record.h"

namespace dm {

namespace {

std::string str_field(const nlohmann::json& j, const char* key, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) fail(ErrorKind::kFormat, "missing field '", key, "'");
    return "";
  }
  if (!j[key].is_string()) fail(ErrorKind::kFormat, "field '", key, "' is not a string");
  return j[key].get<std::string>();
}

std::string norm_role(const std::string& r) {
  if (r == "human" || r == "user") return "user";
  if (r == "gpt" || r == "assistant" || r == "bot") return "assistant";
  if (r == "system") return "system";
  fail(ErrorKind::kFormat, "unknown role '", r, "'");
}

}  // namespace

nlohmann::json parse_record(const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, "invalid JSON: ", e.what());
  }
  if (!j.is_object()) fail(ErrorKind::kFormat, "record is not a JSON object");
  return j;
}

std::vector<Turn> record_turns(const nlohmann::json& j) {
  std::vector<Turn> turns;
  const char* list_key = j.contains("messages") ? "messages" : j.contains("conversations") ? "conversations" : nullptr;
  if (list_key) {
    if (!j[list_key].is_array()) fail(ErrorKind::kFormat, "'", list_key, "' is not an array");
    const bool sharegpt = std::string(list_key) == "conversations";
    if (j.contains("system") && j["system"].is_string()) turns.push_back({"system", j["system"].get<std::string>()});
    for (const auto& m : j[list_key]) {
      if (!m.is_object()) fail(ErrorKind::kFormat, "'", list_key, "' entry is not an object");
      turns.push_back({norm_role(str_field(m, sharegpt ? "from" : "role", true)),
                       str_field(m, sharegpt ? "value" : "content", true)});
    }
    return turns;
  }
  // alpaca: system, history [[q, a], ...], instruction + "\n" + input, output
  const std::string instruction = str_field(j, "instruction", true);
  const std::string input = str_field(j, "input", false);
  const std::string output = str_field(j, "output", true);
  const std::string system = str_field(j, "system", false);
  if (!system.empty()) turns.push_back({"system", system});
  if (j.contains("history") && !j["history"].is_null()) {
    if (!j["history"].is_array()) fail(ErrorKind::kFormat, "'history' is not an array");
    for (const auto& h : j["history"]) {
      if (!h.is_array() || h.size() != 2 || !h[0].is_string() || !h[1].is_string())
        fail(ErrorKind::kFormat, "'history' entries must be [query, response] string pairs");
      turns.push_back({"user", h[0].get<std::string>()});
      turns.push_back({"assistant", h[1].get<std::string>()});
    }
  }
  turns.push_back({"user", input.empty() ? instruction : instruction + "\n" + input});
  turns.push_back({"assistant", output});
  return turns;
}

Example chatml_example(const std::vector<Turn>& turns, const EncodeFn& encode, const DataOptions& opt) {
  if (opt.im_end_id < 0) fail(ErrorKind::kInvalidArgument, "sft: <|im_end|> id unknown");
  size_t i = 0;
  std::string system = opt.system_prompt;
  if (i < turns.size() && turns[i].role == "system") system = turns[i++].content;
  if ((turns.size() - i) % 2 != 0 || i == turns.size())
    fail(ErrorKind::kFormat, "conversation must be user/assistant pairs");
  const int64_t src_cap = opt.max_source_len > 0 ? opt.max_source_len : opt.cutoff_len;
  const int64_t tgt_cap = opt.max_target_len > 0 ? opt.max_target_len : opt.cutoff_len;
  Example e;
  for (size_t t = 0; i < turns.size(); i += 2, ++t) {
    if (turns[i].role != "user" || turns[i + 1].role != "assistant")
      fail(ErrorKind::kFormat, "turn ", t, ": expected user then assistant, got ", turns[i].role, " then ",
           turns[i + 1].role);
    std::string src = t == 0 ? "<|im_start|>system\n" + system + "<|im_end|>\n" : "\n";
    src += "<|im_start|>user\n" + turns[i].content + "<|im_end|>\n<|im_start|>assistant\n";
    std::vector<int32_t> s = encode(src, true), g = encode(turns[i + 1].content, true);
    g.push_back(opt.im_end_id);
    // Per-turn truncation, then stop when the conversation would exceed cutoff_len.
    if (static_cast<int64_t>(s.size()) > src_cap) s.resize(static_cast<size_t>(src_cap));
    if (static_cast<int64_t>(g.size()) > tgt_cap) g.resize(static_cast<size_t>(tgt_cap));
    if (static_cast<int64_t>(e.ids.size() + s.size() + g.size()) > opt.cutoff_len && t > 0) break;
    e.ids.insert(e.ids.end(), s.begin(), s.end());
    e.labels.insert(e.labels.end(), s.size(), -100);
    e.ids.insert(e.ids.end(), g.begin(), g.end());
    e.labels.insert(e.labels.end(), g.begin(), g.end());
  }
  if (static_cast<int64_t>(e.ids.size()) > opt.cutoff_len) {
    e.ids.resize(static_cast<size_t>(opt.cutoff_len));
    e.labels.resize(e.ids.size());
  }
  return e;
}

std::vector<Turn> record_turns(const std::string& json_line) { return record_turns(parse_record(json_line)); }

}  // namespace dm
