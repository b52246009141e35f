// --check-weights: every tensor of a checkpoint scanned for NaN/Inf before a model runs on it, so a corrupt
// file is named at load instead of giving garbage (or a non-finite-logits error) later.
#pragma once
#include <cstdint>
#include <string>

namespace dm {

struct WeightScan {
  size_t tensors = 0;  // tensors scanned (float and ggml block types; integer tensors are skipped)
  uint64_t bytes = 0;  // their stored bytes
};

// Scans every tensor of a Hugging Face directory or GGUF file, rows in parallel, in any float dtype or
// ggml block type (dequantized row by row). Error(kFormat) naming the file, the first tensor (in the
// checkpoint's name order) holding a non-finite value, and its element.
WeightScan check_weights_finite(const std::string& path);

}  // namespace dm
