// ModelConfig validation and the typed config.json accessors the family files read with.
#include "devops_model/model/config.h"

#include <cmath>
#include <limits>

#include "devops_model/core/error.h"
#include "devops_model/core/limits.h"
#include "model/family.h"

namespace dm {

namespace {

// Upper bounds for config sizes (see core/limits.h): each far above any real Qwen shape.
constexpr int64_t kMaxHidden = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxIntermediate = int64_t{1} << 22;
constexpr int64_t kMaxPositions = int64_t{1} << 24;

void in_range(const std::string& what, const char* key, int64_t v, int64_t hi) {
  if (v <= 0) fail(ErrorKind::kFormat, what, ": \"", key, "\" must be positive (got ", v, ")");
  if (v > hi) fail(ErrorKind::kFormat, what, ": \"", key, "\" ", v, " is out of range (at most ", hi, ")");
}

}  // namespace

void ModelConfig::validate(const std::string& what) const {
  in_range(what, "hidden_size", hidden_size, kMaxHidden);
  in_range(what, "num_hidden_layers", num_layers, kMaxLayers);
  in_range(what, "num_attention_heads", num_heads, kMaxHeads);
  in_range(what, "num_key_value_heads", num_kv_heads, kMaxHeads);
  in_range(what, "head_dim", head_dim, kMaxHeads);
  in_range(what, "intermediate_size", intermediate_size, kMaxIntermediate);
  in_range(what, "vocab_size", vocab_size, kMaxVocabSize);
  in_range(what, "max_position_embeddings", max_position_embeddings, kMaxPositions);
  if (seq_length != 0) in_range(what, "seq_length", seq_length, kMaxPositions);
  // Products are in int64: heads x head_dim sizes q, and it must fit the int fields derived from it.
  const int64_t q = int64_t{num_heads} * head_dim;
  if (q > kMaxHidden)
    fail(ErrorKind::kFormat, what, ": num_attention_heads x head_dim = ", q, " is out of range (at most ", kMaxHidden,
         ")");
  if (num_heads % num_kv_heads != 0)
    fail(ErrorKind::kFormat, what, ": num_attention_heads ", num_heads, " is not a multiple of num_key_value_heads ",
         num_kv_heads);
  if (rotary_dim <= 0 || rotary_dim > head_dim || rotary_dim % 2 != 0)
    fail(ErrorKind::kFormat, what, ": rotary dimension ", rotary_dim, " must be even and in (0, head_dim]");
  if ((logn_attn || dynamic_ntk) && seq_length <= 0)
    fail(ErrorKind::kFormat, what, ": seq_length is required for logn attention / dynamic NTK");
  if (!(rms_norm_eps > 0) || !std::isfinite(rms_norm_eps))
    fail(ErrorKind::kFormat, what, ": rms_norm_eps must be positive and finite");
  if (!(rope_theta > 0) || !std::isfinite(rope_theta))
    fail(ErrorKind::kFormat, what, ": rope_theta must be positive and finite");
  if (bos_token_id < -1 || bos_token_id >= vocab_size)
    fail(ErrorKind::kFormat, what, ": \"bos_token_id\" ", bos_token_id, " is not a token id below vocab_size ",
         vocab_size);
  for (int id : eos_token_ids)
    if (id < 0 || id >= vocab_size)
      fail(ErrorKind::kFormat, what, ": \"eos_token_id\" ", id, " is not a token id below vocab_size ", vocab_size);
}

namespace cfg {

bool has(const nlohmann::json& j, const std::string& key) { return j.contains(key) && !j[key].is_null(); }

int64_t get_i64(const nlohmann::json& j, const std::string& key, const std::string& path) {
  if (!has(j, key)) fail(ErrorKind::kFormat, path, ": missing \"", key, "\"");
  const auto& v = j[key];
  if (!v.is_number_integer()) fail(ErrorKind::kFormat, path, ": \"", key, "\" must be an integer");
  // Above INT64_MAX only an unsigned JSON number can hold it: never a size.
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(ErrorKind::kFormat, path, ": \"", key, "\" ", v.get<uint64_t>(), " is out of range");
  return v.get<int64_t>();
}

int narrow(int64_t v, const std::string& key, const std::string& path) {
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    fail(ErrorKind::kFormat, path, ": \"", key, "\" ", v, " is out of range (at most ", std::numeric_limits<int>::max(),
         ")");
  return static_cast<int>(v);
}

int get_int(const nlohmann::json& j, const std::string& key, const std::string& path) {
  return narrow(get_i64(j, key, path), key, path);
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

int gguf_int_or(const GgufMetadata& md, const std::string& key, int64_t dflt) {
  return narrow(md.get_int_or(key, dflt), key, md.path);
}

std::vector<int> get_ids(const nlohmann::json& j, const std::string& key, const std::string& path) {
  std::vector<int> out;
  if (!has(j, key)) return out;
  const auto& v = j[key];
  if (v.is_number_integer()) return {get_int(j, key, path)};
  if (!v.is_array()) fail(ErrorKind::kFormat, path, ": \"", key, "\" must be an id or a list of ids");
  for (size_t i = 0; i < v.size(); ++i) {
    nlohmann::json one = {{key, v[i]}};
    out.push_back(get_int(one, key, path));
  }
  return out;
}

}  // namespace cfg

}  // namespace dm
