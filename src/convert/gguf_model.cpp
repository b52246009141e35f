// Composes the GGUF writer (model/gguf_export.h) with the tokenizer's keys for inputs that are not GGUF.
#include "devops_model/convert/gguf_model.h"

#include <filesystem>
#include <memory>

#include "core/json_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/model/gguf_export.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/gguf_tokenizer.h"

namespace dm {

namespace fs = std::filesystem;

namespace {

// The tokenizer and chat template of a Hugging Face directory as GGUF keys.
void add_hf_tokenizer(const std::string& dir, const ModelConfig& c, GgufMetadata& meta) {
  auto tok = Tokenizer::from_dir(dir);
  GgufTokenizerIds ids;
  ids.vocab_size = static_cast<int32_t>(c.vocab_size);
  ids.bos = c.bos_token_id;
  ids.eos.assign(c.eos_token_ids.begin(), c.eos_token_ids.end());
  if (auto pad = tok->token_id("<|endoftext|>")) ids.padding = *pad;
  add_gguf_tokenizer(*tok, ids, meta);
  const fs::path cfg = fs::path(dir) / "tokenizer_config.json";
  if (!fs::exists(cfg)) return;
  const nlohmann::json j = read_json_file(cfg.string());
  if (j.contains("chat_template") && j["chat_template"].is_string())
    meta.set("tokenizer.chat_template", gguf_string(j["chat_template"].get<std::string>()));
}

GgufExportSource open_source(const std::string& in) {
  if (is_gguf_file(in)) return gguf_source_from_file(in);
  std::shared_ptr<const Model> model = Model::load(in);
  std::string name = fs::path(in).filename().string();
  if (name.empty()) name = fs::path(in).parent_path().filename().string();
  GgufExportSource s = gguf_source_from_model(model, name);
  add_hf_tokenizer(in, model->config(), s.meta);
  return s;
}

}  // namespace

GgufModelReport write_gguf_model(const std::string& in, const std::string& out, const std::string& type) {
  const GgufPreset& preset = gguf_preset(type);
  GgufExportSource src = open_source(in);
  GgufModelReport r;
  r.fallbacks = plan_gguf_types(src.tensors, preset, src.plan);
  set_gguf_file_type(src.meta, preset);
  for (const GgufOutTensor& t : src.tensors) {
    r.bytes_in += t.src.nbytes();
    r.bytes_out += dtype_bytes(t.type, t.src.numel());
    ++r.types[dtype_name(t.type)];
  }
  r.tensors = static_cast<int>(src.tensors.size());
  Progress bar("gguf " + preset.name, static_cast<int64_t>(r.bytes_in >> 20), "MiB");
  uint64_t done = 0;
  write_gguf_tensors(out, src.meta, src.tensors, [&](size_t i) {
    done += src.tensors[i].src.nbytes();
    if (src.release) src.release(src.tensors[i].src);
    bar.set(static_cast<int64_t>(done >> 20));
  });
  bar.finish();
  return r;
}

}  // namespace dm
