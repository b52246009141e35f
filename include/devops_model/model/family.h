// Model families: each is a loader that reads config.json into ModelConfig and maps the checkpoint's
// tensor names onto ModelWeights. Adding a family = adding one of these (see docs/ARCHITECTURE.md).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devops_model/model/config.h"
#include "devops_model/model/weights.h"

namespace dm {

// Fetches a tensor by checkpoint name and checks its shape; errors name the file and tensor.
using TensorFetch = std::function<TensorView(const std::string& name, const Shape& expected)>;
using TensorExists = std::function<bool(const std::string& name)>;

struct ModelFamilyLoader {
  std::vector<std::string> architectures;  // config.json "architectures" values it accepts
  // Parses config.json (`path` for messages).
  std::function<ModelConfig(const nlohmann::json& cfg, const std::string& path)> parse_config;
  std::function<void(const ModelConfig&, const TensorFetch&, const TensorExists&, ModelWeights&)> map_weights;
  // Writes the canonical weights back under this family's names (for saving checkpoints).
  std::function<std::string(const std::string& canonical_name)> checkpoint_name;
};

// config.json for a ModelConfig, in the family's own key names (what transformers expects).
nlohmann::json config_to_hf_json(const ModelConfig& c);

const ModelFamilyLoader& qwen1_family();
const ModelFamilyLoader& qwen2_family();  // Qwen2 and Qwen3

// The loader for config.json's "architectures"; Error(kUnsupported) listing the supported ones.
const ModelFamilyLoader& find_family(const nlohmann::json& cfg, const std::string& path);
ModelConfig parse_model_config(const nlohmann::json& cfg, const std::string& path);

// Typed config.json accessors: Error(kFormat) naming the file and key on a wrong type.
namespace cfg {
bool has(const nlohmann::json& j, const std::string& key);
int get_int(const nlohmann::json& j, const std::string& key, const std::string& path);
int get_int_or(const nlohmann::json& j, const std::string& key, int dflt, const std::string& path);
double get_double_or(const nlohmann::json& j, const std::string& key, double dflt, const std::string& path);
bool get_bool_or(const nlohmann::json& j, const std::string& key, bool dflt, const std::string& path);
// First key present among `keys` (newer names first).
int get_int_any(const nlohmann::json& j, const std::vector<std::string>& keys, const std::string& path);
std::vector<int> get_ids(const nlohmann::json& j, const std::string& key, const std::string& path);
}  // namespace cfg

}  // namespace dm
