// One SFT record as JSON (internal: the JSON type stays out of the public headers). dataset.cpp parses a
// line once and both tells pre-tokenized records apart and reads the turns from the same object.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devops_model/train/dataset.h"

namespace dm {

// The turns of a parsed record (see record_turns(json_line)). Error(kFormat) naming the missing field.
std::vector<Turn> record_turns(const nlohmann::json& record);
// One JSONL line -> its JSON object; Error(kFormat) when it is not JSON or not an object.
nlohmann::json parse_record(const std::string& json_line);

}  // namespace dm
