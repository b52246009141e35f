// What `convert --to-gguf` and `quantize` write: a GGUF file's own metadata and tensors, or a loaded model's
// config and tensors in llama.cpp's names.
#include "devops_model/core/error.h"
#include "devops_model/formats/checkpoint.h"
#include "devops_model/model/gguf_export.h"
#include "devops_model/model/model.h"
#include "model/family.h"

namespace dm {

GgufExportSource gguf_source_from_file(const std::string& path) {
  auto file = GgufFile::open(path);
  GgufExportSource s;
  s.meta = file->metadata();
  for (const std::string& name : file->tensor_order()) s.tensors.push_back({name, file->get(name), DType::kF32});
  const std::string arch = s.meta.get_string("general.architecture");
  s.plan.n_layer = static_cast<int>(s.meta.get_int(arch + ".block_count"));
  s.plan.n_head = static_cast<int>(s.meta.get_int_or(arch + ".attention.head_count", 1));
  s.plan.n_head_kv = static_cast<int>(s.meta.get_int_or(arch + ".attention.head_count_kv", s.plan.n_head));
  s.release = [f = file.get()](const TensorView& v) { f->drop_pages(v); };
  s.keep = file;
  return s;
}

GgufExportSource gguf_source_from_model(std::shared_ptr<const Model> model, const std::string& name) {
  const ModelConfig& c = model->config();
  const Family& f = family_of(c);
  GgufExportSource s;
  s.meta.set("general.architecture", gguf_string(gguf_architecture_of(c)));
  s.meta.set("general.name", gguf_string(name));
  f.gguf_config(c, s.meta);
  auto fused = std::make_shared<std::vector<Tensor>>();  // fused q/k/v tensors are built here
  for (auto& [hf_name, view] : family_checkpoint_tensors(c, model->weights(), *fused))
    s.tensors.push_back({gguf_tensor_name(f, hf_name), view, DType::kF32});
  s.plan = {c.num_layers, c.num_heads, c.num_kv_heads};
  if (const CheckpointTensors* ckpt = model->store().checkpoint())
    s.release = [ckpt](const TensorView& v) { ckpt->drop_pages(v); };
  s.keep = std::make_shared<std::pair<std::shared_ptr<const Model>, std::shared_ptr<std::vector<Tensor>>>>(
      std::move(model), std::move(fused));
  return s;
}

void set_gguf_file_type(GgufMetadata& meta, const GgufPreset& preset) {
  // ggml's gguf_set_val_* drops an existing key and appends it: the two keys end the list, in this order.
  std::erase_if(meta.entries, [](const auto& kv) {
    return kv.first == "general.quantization_version" || kv.first == "general.file_type";
  });
  meta.entries.emplace_back("general.quantization_version", gguf_u32(2));
  meta.entries.emplace_back("general.file_type", gguf_u32(preset.file_type));
}

}  // namespace dm
