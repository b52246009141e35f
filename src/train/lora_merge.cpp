// Merging a PEFT LoRA adapter into its base checkpoint (see checkpoint.h).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/model/model.h"
#include "devops_model/train/checkpoint.h"

namespace fs = std::filesystem;

namespace dm {

namespace {

LoraConfig read_adapter_config(const std::string& path) {
  if (!fs::exists(path)) fail(ErrorKind::kIo, path, ": not found (is this a PEFT adapter directory?)");
  nlohmann::json j = read_json_file(path);
  LoraConfig c;
  if (!j.contains("r") || !j["r"].is_number_integer()) fail(ErrorKind::kFormat, path, ": missing integer 'r'");
  c.rank = j["r"].get<int>();
  c.alpha = j.value("lora_alpha", static_cast<float>(c.rank));
  if (j.value("use_rslora", false)) fail(ErrorKind::kUnsupported, path, ": use_rslora is not supported");
  const auto& t = j.value("target_modules", nlohmann::json::array());
  if (t.is_string()) {
    c.targets_regex = t.get<std::string>();  // PEFT: a string is a regex matched against the whole module name
  } else if (t.is_array()) {
    for (const auto& x : t) {
      if (!x.is_string()) fail(ErrorKind::kFormat, path, ": target_modules: expected strings");
      c.targets.push_back(x.get<std::string>());
    }
  } else {
    fail(ErrorKind::kFormat, path, ": target_modules: expected a list or a string");
  }
  if (c.targets.empty() && c.targets_regex.empty()) fail(ErrorKind::kFormat, path, ": empty target_modules");
  return c;
}

}  // namespace

void merge_lora_checkpoint(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir) {
  const LoraConfig cfg = read_adapter_config(adapter_dir + "/adapter_config.json");
  auto base = Model::load(model_dir);
  auto tm = TrainModel::from_model(*base);
  base.reset();
  try {
    tm->enable_lora(cfg, 0);
  } catch (const Error& e) {
    fail(ErrorKind::kFormat, adapter_dir, "/adapter_config.json: ", e.what());
  }
  auto f = SafetensorsFile::open(adapter_dir + "/adapter_model.safetensors");
  for (Param& p : tm->lora_params()) {
    const std::string name = "base_model.model." + p.name;
    if (!f->has(name)) fail(ErrorKind::kFormat, f->path(), ": missing tensor ", name);
    const std::vector<float> v = f->get(name).to_f32();
    if (static_cast<int64_t>(v.size()) != p.numel()) fail(ErrorKind::kFormat, f->path(), ": ", name, ": wrong shape");
    std::copy(v.begin(), v.end(), p.v());
  }
  tm->merge_lora();
  const std::string tmp = out_dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  make_directories(tmp);
  write_model_files(*tm, tmp, model_dir);
  commit_dir(tmp, out_dir);
}

}  // namespace dm
