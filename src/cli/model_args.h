// Options shared by the commands that load a model: --model DIR, --dtype, --threads, --check-weights,
// --no-mmap, --bf16-activations.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "devops_model/model/model.h"

namespace dm::cli {

struct ModelArgs {
  std::string dir;
  std::string dtype = "stored";  // stored | f32 | a ggml block type: q8_0, q4_k, ...
  int threads = 0;
  bool check_weights = false;  // scan every tensor for NaN/Inf before loading
  bool no_mmap = false;        // read the weight files into memory instead of mapping them
  bool bf16_activations = false;  // BF16 weights' prefill with bf16 activations (kernels/matmul.h)

  void add(CLI::App& app, bool required = true);
  std::unique_ptr<Model> load() const;  // applies --threads first
};

// --dtype's values ("stored", "f32", "q8_0", ...) and the load options each means.
std::vector<std::string> dtype_choices();
LoadOptions load_options_for_dtype(const std::string& dtype);

// "1,2,3" -> {1, 2, 3}; Error(kInvalidArgument) naming the bad item.
std::vector<int32_t> parse_ids(const std::string& s, const char* option);

}  // namespace dm::cli
