// ModelConfig validation and the typed config.json accessors the family files read with.
#include "devops_model/model/config.h"

#include "devops_model/core/error.h"
#include "model/family.h"

namespace dm {

void ModelConfig::validate(const std::string& what) const {
  auto positive = [&](int v, const char* name) {
    if (v <= 0) fail(ErrorKind::kFormat, what, ": ", name, " must be positive (got ", v, ")");
  };
  positive(hidden_size, "hidden_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(intermediate_size, "intermediate_size");
  positive(vocab_size, "vocab_size");
  if (num_heads % num_kv_heads != 0)
    fail(ErrorKind::kFormat, what, ": num_attention_heads ", num_heads, " is not a multiple of num_key_value_heads ",
         num_kv_heads);
  if (rotary_dim <= 0 || rotary_dim > head_dim || rotary_dim % 2 != 0)
    fail(ErrorKind::kFormat, what, ": rotary dimension ", rotary_dim, " must be even and in (0, head_dim]");
  if ((logn_attn || dynamic_ntk) && seq_length <= 0)
    fail(ErrorKind::kFormat, what, ": seq_length is required for logn attention / dynamic NTK");
  if (!(rms_norm_eps > 0)) fail(ErrorKind::kFormat, what, ": rms_norm_eps must be positive");
  if (!(rope_theta > 0)) fail(ErrorKind::kFormat, what, ": rope_theta must be positive");
}

namespace cfg {

bool has(const nlohmann::json& j, const std::string& key) { return j.contains(key) && !j[key].is_null(); }

int get_int(const nlohmann::json& j, const std::string& key, const std::string& path) {
  if (!has(j, key)) fail(ErrorKind::kFormat, path, ": missing \"", key, "\"");
  const auto& v = j[key];
  if (!v.is_number_integer()) fail(ErrorKind::kFormat, path, ": \"", key, "\" must be an integer");
  return v.get<int>();
}

int get_int_or(const nlohmann::json& j, const std::string& key, int dflt, const std::string& path) {
  return has(j, key) ? get_int(j, key, path) : dflt;
}

double get_double_or(const nlohmann::json& j, const std::string& key, double dflt, const std::string& path) {
  if (!has(j, key)) return dflt;
  if (!j[key].is_number()) fail(ErrorKind::kFormat, path, ": \"", key, "\" must be a number");
  return j[key].get<double>();
}

bool get_bool_or(const nlohmann::json& j, const std::string& key, bool dflt, const std::string& path) {
  if (!has(j, key)) return dflt;
  if (!j[key].is_boolean()) fail(ErrorKind::kFormat, path, ": \"", key, "\" must be true or false");
  return j[key].get<bool>();
}

int get_int_any(const nlohmann::json& j, const std::vector<std::string>& keys, const std::string& path) {
  for (const auto& k : keys) {
    if (has(j, k)) return get_int(j, k, path);
  }
  std::string list;
  for (const auto& k : keys) list += (list.empty() ? "\"" : " or \"") + k + "\"";
  fail(ErrorKind::kFormat, path, ": missing ", list);
}

std::vector<int> get_ids(const nlohmann::json& j, const std::string& key, const std::string& path) {
  std::vector<int> out;
  if (!has(j, key)) return out;
  const auto& v = j[key];
  if (v.is_number_integer()) return {v.get<int>()};
  if (!v.is_array()) fail(ErrorKind::kFormat, path, ": \"", key, "\" must be an id or a list of ids");
  for (const auto& x : v) {
    if (!x.is_number_integer()) fail(ErrorKind::kFormat, path, ": \"", key, "\" must hold integers");
    out.push_back(x.get<int>());
  }
  return out;
}

}  // namespace cfg

}  // namespace dm
