// Merging a PEFT LoRA adapter into its base checkpoint (see checkpoint.h).
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/json_file.h"
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
    c.targets.push_back(t.get<std::string>());
  } else {
    for (const auto& x : t) c.targets.push_back(x.get<std::string>());
  }
  if (c.targets.empty()) fail(ErrorKind::kFormat, path, ": empty target_modules");
  return c;
}

}  // namespace

void merge_lora_checkpoint(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir) {
  const LoraConfig cfg = read_adapter_config(adapter_dir + "/adapter_config.json");
  auto base = Model::load(model_dir);
  auto tm = TrainModel::from_model(*base);
  base.reset();
  tm->enable_lora(cfg, 0);
  auto f = SafetensorsFile::open(adapter_dir + "/adapter_model.safetensors");
  for (Param& p : tm->lora_params()) {
    const std::string name = "base_model.model." + p.name;
    if (!f->has(name)) fail(ErrorKind::kFormat, f->path(), ": missing tensor ", name);
    const std::vector<float> v = f->get(name).to_f32();
    if (static_cast<int64_t>(v.size()) != p.numel()) fail(ErrorKind::kFormat, f->path(), ": ", name, ": wrong shape");
    std::copy(v.begin(), v.end(), p.v());
  }
  // W[out, in] += (alpha / r) * B[out, r] @ A[r, in], in double for each element.
  const double scale = static_cast<double>(cfg.alpha) / cfg.rank;
  auto& lora = tm->lora_params();
  for (size_t k = 0; k + 1 < lora.size(); k += 2) {
    Param& A = lora[k];
    Param& B = lora[k + 1];
    const std::string module = A.name.substr(0, A.name.find(".lora_A."));
    Param* W = tm->find(module + ".weight");
    if (!W) fail(ErrorKind::kFormat, model_dir, ": no weight for LoRA module ", module);
    const int64_t r = A.value.shape()[0], in = A.value.shape()[1], out = B.value.shape()[0];
    if (W->value.shape()[0] != out || W->value.shape()[1] != in)
      fail(ErrorKind::kFormat, adapter_dir, ": ", module, ": adapter shape does not match the base weight");
    float* w = W->v();
    const float* a = A.v();
    const float* b = B.v();
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < r; ++j) acc += static_cast<double>(b[o * r + j]) * a[j * in + i];
        w[o * in + i] += static_cast<float>(scale * acc);
      }
  }
  const std::string tmp = out_dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  write_model_files(*tm, tmp, model_dir);
  commit_dir(tmp, out_dir);
}

}  // namespace dm
