// GgufMetadata's typed accessors: every error names the file, the key and what was found.
#include <limits>

#include "devops_model/core/error.h"
#include "devops_model/formats/gguf.h"

namespace dm {

namespace {

int64_t as_int(const GgufValue& v, const std::string& path, const std::string& key) {
  if (const auto* u = std::get_if<uint64_t>(&v.scalar)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" = ", *u, " is out of range");
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&v.scalar)) return *i;
  fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" must be an integer, not ", gguf_type_name(v.type));
}

}  // namespace

const GgufValue* GgufMetadata::find(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

void GgufMetadata::set(const std::string& key, GgufValue v) {
  for (auto& [k, old] : entries) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  entries.emplace_back(key, std::move(v));
}

int64_t GgufMetadata::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(ErrorKind::kFormat, path, ": missing metadata \"", key, "\"");
  if (!v->is_integer())
    fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" must be an integer, not ", gguf_type_name(v->type));
  return as_int(*v, path, key);
}

int64_t GgufMetadata::get_int_or(const std::string& key, int64_t dflt) const { return has(key) ? get_int(key) : dflt; }

double GgufMetadata::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(ErrorKind::kFormat, path, ": missing metadata \"", key, "\"");
  if (v->is_float()) return std::get<double>(v->scalar);
  if (v->is_integer()) return static_cast<double>(as_int(*v, path, key));
  fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" must be a number, not ", gguf_type_name(v->type));
}

double GgufMetadata::get_float_or(const std::string& key, double dflt) const {
  return has(key) ? get_float(key) : dflt;
}

bool GgufMetadata::get_bool_or(const std::string& key, bool dflt) const {
  const GgufValue* v = find(key);
  if (!v) return dflt;
  if (v->type != GgufType::kBool)
    fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" must be a bool, not ", gguf_type_name(v->type));
  return std::get<bool>(v->scalar);
}

std::string GgufMetadata::get_string(const std::string& key) const {
  auto s = get_string_opt(key);
  if (!s) fail(ErrorKind::kFormat, path, ": missing metadata \"", key, "\"");
  return *s;
}

std::optional<std::string> GgufMetadata::get_string_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kString)
    fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" must be a string, not ", gguf_type_name(v->type));
  return std::get<std::string>(v->scalar);
}

std::vector<std::string> GgufMetadata::get_strings(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(ErrorKind::kFormat, path, ": missing metadata \"", key, "\"");
  if (!v->is_array() || v->elem_type != GgufType::kString)
    fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" must be an array of strings");
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(std::get<std::string>(e.scalar));
  return out;
}

std::vector<int64_t> GgufMetadata::get_ints(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(ErrorKind::kFormat, path, ": missing metadata \"", key, "\"");
  if (!v->is_array() || !gguf_integer_type(v->elem_type))
    fail(ErrorKind::kFormat, path, ": metadata \"", key, "\" must be an array of integers");
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(as_int(e, path, key));
  return out;
}

}  // namespace dm
