// Helpers shared by the tests: fixture paths, reading golden tensors, running the CLI.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/formats/safetensors.h"

namespace dm::test {

inline std::string fixture(const std::string& rel) { return std::string(DM_FIXTURES_DIR) + "/" + rel; }

inline std::vector<int32_t> golden_ids(const SafetensorsFile& f, const std::string& name) {
  TensorView t = f.get(name);
  std::vector<int32_t> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = t.dtype == DType::kI64 ? static_cast<int32_t>(static_cast<const int64_t*>(t.data)[i])
                                    : static_cast<const int32_t*>(t.data)[i];
  }
  return out;
}

inline std::vector<float> golden_f32(const SafetensorsFile& f, const std::string& name) { return f.get(name).to_f32(); }

// Runs a shell command, returns its exit status and captured stdout (stderr in err if given).
struct CmdResult {
  int status = -1;
  std::string out, err;
};
CmdResult run_cmd(const std::string& cmd);
inline std::string cli() { return DM_CLI_PATH; }

// A fresh empty temp directory; removed when the test process exits.
std::string temp_dir(const std::string& tag);

// tiny-qwen2 / tiny-qwen3 serve 128 positions, too few for a tool prompt: a temp copy of fixture `name`
// (files linked) whose config says `positions` (RoPE takes any position; the weights are the fixture's).
std::string long_context_copy(const std::string& name, int positions = 4096);

}  // namespace dm::test
