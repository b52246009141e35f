#include "core/json_file.h"

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"

namespace dm {

namespace {
template <typename Json>
Json parse_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, path, ": invalid JSON: ", e.what());
  }
}
}  // namespace

nlohmann::json read_json_file(const std::string& path) { return parse_file<nlohmann::json>(path); }
nlohmann::ordered_json read_ordered_json_file(const std::string& path) {
  return parse_file<nlohmann::ordered_json>(path);
}

}  // namespace dm
