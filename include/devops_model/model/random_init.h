// Random-weight models of real shapes: speed work without real weights, and training from scratch.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/model/config.h"
#include "devops_model/model/model.h"

namespace dm {

// Named real shapes: "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", "qwen3-0.6b", "qwen-7b", "qwen-14b".
// Error(kInvalidArgument) listing the known names otherwise.
ModelConfig shape_preset(const std::string& name);
std::vector<std::string> shape_preset_names();

// Writes config.json + model.safetensors (streamed tensor by tensor) with weights ~ U(-a, a) of std
// `init_std` and norms = 1, in `dtype` (F32/BF16/F16). The same seed gives the same bytes.
void write_random_checkpoint(const ModelConfig& c, const std::string& dir, DType dtype, uint64_t seed,
                             float init_std = 0.02f);

// The same weights in memory (f32), for training from scratch.
std::unique_ptr<Model> random_model(const ModelConfig& c, uint64_t seed, float init_std = 0.02f);

// The tensors (name, shape) a checkpoint of this config holds, in its family's names and file order.
struct TensorSpec {
  std::string name;
  Shape shape;
  bool is_norm;  // RMSNorm weights start at 1
};
std::vector<TensorSpec> checkpoint_tensor_specs(const ModelConfig& c);

}  // namespace dm
