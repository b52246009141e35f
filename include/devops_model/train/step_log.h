// The per-step JSON log (`train --log-json`, the demo's log.jsonl): one object a line with "step".
#pragma once
#include <cstdint>
#include <string>

namespace dm {

// After a resume at `step`: keeps the lines of steps <= step and drops the rest (steps the interrupted
// run logged past its last checkpoint, which the resumed run logs again) and any torn or non-JSON line.
// Rewritten atomically; a missing file is left missing.
void truncate_step_log(const std::string& path, int64_t step);

}  // namespace dm
