// Writing GGUF model files: `convert --to-gguf` (from anything Model::load reads) and `quantize` (a GGUF in,
// a GGUF out). The output types follow llama-quantize's presets tensor by tensor (Q4_K_M gives token_embd,
// half of the attn_v and ffn_down tensors Q6_K, ...; a row that is not whole blocks falls back to a type
// whose blocks fit, then to F16), so a file we quantize holds the same types, and with the same reference
// quantizers the same bytes, as llama-quantize's. Tensors are converted one at a time, rows in parallel,
// and the file is written streamed and atomically (temp file + rename).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/formats/gguf.h"

namespace dm {

// A llama-quantize preset ("Q4_K_M") or a plain type for every matrix ("F16"): the ggml type most 2-D
// weights get and the general.file_type (llama_ftype) it writes.
struct GgufPreset {
  std::string name;  // upper case, llama-quantize's spelling
  DType base;        // the type of a matrix no rule singles out
  uint32_t file_type;
};
// Case-insensitive; Error(kInvalidArgument) listing every preset when unknown.
const GgufPreset& gguf_preset(std::string_view name);
std::vector<std::string> gguf_preset_names();

// llama-quantize's fallback for a row of `row` values that is not whole blocks of `want`: Q2_K/Q3_K ->
// Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16 when that does not fit either; `want` itself
// when it fits. (A legacy type that does not fit has no fallback: F16.)
DType block_type_for_row(DType want, int64_t row);

// One tensor to write: its GGUF name, the source view (any dtype we read) and the chosen output type.
struct GgufOutTensor {
  std::string name;
  TensorView src;
  DType type = DType::kF32;
};

// What the per-tensor rules need to know of the model.
struct GgufPlanModel {
  int n_layer = 0;
  int n_head = 0, n_head_kv = 0;  // n_gqa = n_head / n_head_kv
};

// Orders the tensors as llama-quantize writes them (tensors outside the layers by name, then layer by
// layer in numeric order, by name within a layer) and sets each one's output type under `preset`: 1-D
// tensors and norms F32; matrices by llama-quantize's rules (llama_tensor_get_type, no imatrix) with its
// fallbacks. Returns how many matrices fell back to another type because their rows are not whole blocks.
int plan_gguf_types(std::vector<GgufOutTensor>& tensors, const GgufPreset& preset, const GgufPlanModel& model);

// Writes `meta` and the tensors in the given order, each converted from its source to its type (same type:
// bytes copied; F32/F16/BF16 by rounding; block types by the reference quantizers of core/quant.h from the
// source's f32 values). `on_tensor` (optional) is called after each tensor with its index.
void write_gguf_tensors(const std::string& out_path, const GgufMetadata& meta,
                        const std::vector<GgufOutTensor>& tensors, const std::function<void(size_t)>& on_tensor = {});

// A model to write as GGUF: metadata, tensors (GGUF names, views of the source as stored) and what the type
// rules need; `keep` holds what the views point into.
struct GgufExportSource {
  GgufMetadata meta;
  std::vector<GgufOutTensor> tensors;
  GgufPlanModel plan;
  std::shared_ptr<const void> keep;
  // Gives a written tensor's source pages back to the kernel (mmap'd inputs larger than memory).
  std::function<void(const TensorView&)> release;
};
class Model;
// From a GGUF file: all of its metadata (llama-quantize keeps every key) and its tensors as stored.
GgufExportSource gguf_source_from_file(const std::string& path);
// From a loaded model (any format Model::load reads): general.architecture and general.name, the family's
// "<arch>.*" keys, and the family's tensors under llama.cpp's names (Qwen1's c_attn as attn_qkv). The
// tokenizer's keys are the caller's to add (tokenizer/gguf_export.h).
GgufExportSource gguf_source_from_model(std::shared_ptr<const Model> model, const std::string& name);
// Sets general.file_type and general.quantization_version as llama-quantize does.
void set_gguf_file_type(GgufMetadata& meta, const GgufPreset& preset);

}  // namespace dm
