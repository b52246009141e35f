// Reading JSON files: every parse error becomes Error(kFormat) naming the file, missing files Error(kIo).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace dm {

nlohmann::json read_json_file(const std::string& path);
nlohmann::ordered_json read_ordered_json_file(const std::string& path);  // keeps key order (rewriting files)

}  // namespace dm
