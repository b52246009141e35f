// Model families (internal): everything one checkpoint convention needs lives in its one file
// (qwen1_family.cpp: QWenLMHeadModel; qwen2_family.cpp: Qwen2ForCausalLM and Qwen3ForCausalLM), behind
// this interface: config.json keys (read and written back), the checkpoint's tensor names for loading AND
// saving (fused tensors split on load, fused on save), PEFT module names for LoRA targets, chat defaults
// and the named real shapes. The decoder itself never looks at the family: only ModelConfig's switches.
// Adding a family = one such file + one line in family.cpp's registry (docs/ARCHITECTURE.md).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devops_model/formats/gguf.h"
#include "devops_model/model/config.h"
#include "devops_model/model/random_init.h"
#include "devops_model/model/weights.h"

namespace dm {

// One tensor of a family's checkpoint and the canonical weight slots it holds: one, or several whose rows
// are concatenated in order (a fused q/k/v tensor: q rows, then k, then v; its bias likewise).
struct TensorBinding {
  struct Part {
    TensorView* slot;  // in the ModelWeights the list was made for
    int64_t rows;      // its rows in the stored tensor
  };
  std::string name;         // in the checkpoint
  Shape shape;              // as stored
  std::vector<Part> parts;  // in row order
  bool is_norm = false;     // RMSNorm weight: random init fills ones
  bool optional = false;    // loaded when present (a tied lm_head), never written

  // The common case: one checkpoint tensor is one slot.
  static TensorBinding one(std::string name, Shape shape, TensorView* slot, bool is_norm = false) {
    const int64_t rows = shape.at(0);
    return TensorBinding{std::move(name), std::move(shape), {{slot, rows}}, is_norm, false};
  }
};

// How llama.cpp names the family's tensors in GGUF: whole-name renames for the tensors outside the
// layers, suffix renames for those inside ("<layer_prefix>N.<hf suffix>" -> "blk.N.<gguf suffix>").
struct GgufNames {
  std::string layer_prefix;                                   // "model.layers."
  std::vector<std::pair<std::string, std::string>> globals;   // {"model.norm.weight", "output_norm.weight"}
  std::vector<std::pair<std::string, std::string>> in_layer;  // {"self_attn.q_proj.weight", "attn_q.weight"}
};

// What a family's GGUF reader may ask of the file's tensors (flags such as tied embeddings and biases
// are told by which tensors exist; the vocabulary by the embedding's rows).
struct GgufTensors {
  std::function<bool(const std::string& gguf_name)> has;
  std::function<Shape(const std::string& gguf_name)> shape;  // HF order
};

// A named real shape ("qwen2.5-0.5b") with its config.
struct ShapePreset {
  std::string name;
  ModelConfig config;
};

struct Family {
  std::string name;                        // "qwen", "qwen2" (messages)
  std::vector<std::string> architectures;  // config.json "architectures" values it reads
  // config.json -> ModelConfig (`path` for messages; validation is generic) and back (what transformers
  // expects, in the family's own keys).
  std::function<ModelConfig(const nlohmann::json& cfg, const std::string& path)> parse_config;
  std::function<nlohmann::json(const ModelConfig& c)> config_json;
  // The checkpoint's tensors in file order, bound to the slots of `w` (whose layers are sized already).
  std::function<std::vector<TensorBinding>(const ModelConfig& c, ModelWeights& w)> tensors;
  // PEFT's name of the module holding a projection of layer `layer`: "model.layers.0.self_attn.q_proj";
  // the projections of one fused module share its name.
  std::function<std::string(int layer, Proj p)> lora_module;
  // GGUF: llama.cpp's architecture names, one per entry of `architectures` in the same order ("qwen2",
  // "qwen3"; "qwen" for Qwen1), hyper-parameters from
  // the file's metadata (`arch` is general.architecture) and back, and the tensor names.
  std::vector<std::string> gguf_architectures;
  std::function<ModelConfig(const GgufMetadata& md, const std::string& arch, const GgufTensors& t)> parse_gguf;
  std::function<void(const ModelConfig& c, GgufMetadata& md)> gguf_config;  // writes "<arch>.*" keys
  GgufNames gguf_names;
  ChatFormat chat_format = ChatFormat::kChatMl;
  std::function<std::string(const ModelConfig& c)> default_system_prompt;  // when there is no chat template
  std::vector<ShapePreset> shapes;
};

// Every family, in registry order (family.cpp).
const std::vector<const Family*>& all_families();
// The family reading config.json's "architectures"; Error(kUnsupported) listing the supported ones.
const Family& family_for(const nlohmann::json& cfg, const std::string& path);
// The family of a parsed config (by its architecture).
const Family& family_of(const ModelConfig& c);

// config.json -> validated ModelConfig (Error(kFormat) naming the file and key).
ModelConfig parse_model_config(const nlohmann::json& cfg, const std::string& path);
// config.json for a ModelConfig in its family's keys.
nlohmann::json config_to_hf_json(const ModelConfig& c);

// GGUF: the family of general.architecture (Error(kUnsupported) listing the supported ones), the
// validated config from the metadata and tensors, llama.cpp's name of a checkpoint tensor, and the
// "<arch>.*" keys for writing a config.
const Family& family_for_gguf(const GgufMetadata& md);
ModelConfig parse_gguf_model_config(const GgufMetadata& md, const GgufTensors& t);
std::string gguf_tensor_name(const Family& f, const std::string& hf_name);
std::string gguf_architecture_of(const ModelConfig& c);

// Fetches a tensor by checkpoint name and checks its shape; errors name the file and tensor.
using TensorFetch = std::function<TensorView(const std::string& name, const Shape& expected)>;
using TensorExists = std::function<bool(const std::string& name)>;
// Refuses a config that needs more tensors than the checkpoint holds (Error(kFormat) naming `source` and
// num_hidden_layers) before anything is sized by num_layers.
void check_tensor_count(const ModelConfig& c, size_t tensors_present, const std::string& source);
// Fills `w` from a checkpoint through the family's bindings (fused tensors become row views, no copy);
// a tied lm_head without its own tensor is the embedding. Names are the HF checkpoint's or, with
// `gguf`, llama.cpp's.
enum class TensorNaming { kHf, kGguf };
void load_family_weights(const ModelConfig& c, const TensorFetch& fetch, const TensorExists& exists, ModelWeights& w,
                         TensorNaming naming = TensorNaming::kHf);
// The family's checkpoint tensors for weights in canonical slots, in file order; fused tensors are
// concatenated into buffers owned by `keep`.
std::vector<std::pair<std::string, TensorView>> family_checkpoint_tensors(const ModelConfig& c, const ModelWeights& w,
                                                                          std::vector<Tensor>& keep);

// Typed config.json accessors: Error(kFormat) naming the file and key on a wrong type.
namespace cfg {
bool has(const nlohmann::json& j, const std::string& key);
// Integers are read as 64-bit and checked, never cut: a value outside int is Error(kFormat) naming the key.
int64_t get_i64(const nlohmann::json& j, const std::string& key, const std::string& path);
int narrow(int64_t v, const std::string& key, const std::string& path);
int get_int(const nlohmann::json& j, const std::string& key, const std::string& path);
int get_int_or(const nlohmann::json& j, const std::string& key, int dflt, const std::string& path);
double get_double_or(const nlohmann::json& j, const std::string& key, double dflt, const std::string& path);
bool get_bool_or(const nlohmann::json& j, const std::string& key, bool dflt, const std::string& path);
// First key present among `keys` (newer names first).
int get_int_any(const nlohmann::json& j, const std::vector<std::string>& keys, const std::string& path);
// GGUF metadata integer (any width) as an int, or `dflt` when absent; Error(kFormat) naming the key.
int gguf_int_or(const GgufMetadata& md, const std::string& key, int64_t dflt);
std::vector<int> get_ids(const nlohmann::json& j, const std::string& key, const std::string& path);
}  // namespace cfg

}  // namespace dm
