// HF checkpoint directories written from a TrainModel (see checkpoint.h).
#include "devops_model/train/checkpoint.h"
#include "core/json_file.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "model/family.h"

namespace fs = std::filesystem;

namespace dm {

namespace {

// A float as the double with its shortest decimal form: 0.1f is written 0.1, not 0.10000000149011612.
double shortest(float f) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::strtod(std::string(buf, r.ptr).c_str(), nullptr);
}

nlohmann::json read_json_or_null(const std::string& path) {
  if (!fs::exists(path)) return nullptr;
  return read_json_file(path);
}

}  // namespace

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> kFiles = {
      "tokenizer.json", "tokenizer_config.json",   "vocab.json",        "merges.txt",
      "qwen.tiktoken",  "special_tokens_map.json", "added_tokens.json", "tokenization_qwen.py"};
  return kFiles;
}

std::vector<std::pair<std::string, TensorView>> family_tensors(TrainModel& m, std::vector<Tensor>& keep) {
  return family_checkpoint_tensors(m.config(), m.weights(), keep);
}

void write_model_files(TrainModel& m, const std::string& dir, const std::string& source_dir) {
  std::vector<Tensor> keep;
  write_safetensors(dir + "/model.safetensors", family_tensors(m, keep));
  // config.json: the source's own (keeps family-specific keys) with torch_dtype float32, else generated.
  nlohmann::json cfg = source_dir.empty() ? nullptr : read_json_or_null(source_dir + "/config.json");
  if (cfg.is_null()) cfg = config_to_hf_json(m.config());
  cfg["torch_dtype"] = "float32";
  write_file_atomic(dir + "/config.json", cfg.dump(2) + "\n");
  nlohmann::json gen = source_dir.empty() ? nullptr : read_json_or_null(source_dir + "/generation_config.json");
  if (gen.is_null()) {
    gen = nlohmann::json::object();
    if (m.config().bos_token_id >= 0) gen["bos_token_id"] = m.config().bos_token_id;
    if (!m.config().eos_token_ids.empty()) gen["eos_token_id"] = m.config().eos_token_ids;
  }
  write_file_atomic(dir + "/generation_config.json", gen.dump(2) + "\n");
  if (!source_dir.empty()) copy_tokenizer_files(source_dir, dir);
}

void copy_tokenizer_files(const std::string& from, const std::string& to) {
  for (const std::string& f : tokenizer_file_names())
    if (fs::exists(from + "/" + f)) fs::copy_file(from + "/" + f, to + "/" + f, fs::copy_options::overwrite_existing);
}

void write_lora_adapter(TrainModel& m, const std::string& dir, const std::string& base_model) {
  std::vector<std::pair<std::string, TensorView>> t;
  for (Param& p : m.lora_params()) t.emplace_back("base_model.model." + p.name, p.value.view());
  write_safetensors(dir + "/adapter_model.safetensors", t);
  const LoraConfig& lc = m.lora_config();
  // PEFT's two forms: a list of module names, or (as the adapters were chosen) one regex string.
  const nlohmann::json targets =
      lc.targets_regex.empty() ? nlohmann::json(m.lora_target_modules()) : nlohmann::json(lc.targets_regex);
  nlohmann::json j = {{"peft_type", "LORA"},
                      {"task_type", "CAUSAL_LM"},
                      {"r", lc.rank},
                      {"lora_alpha", shortest(lc.alpha)},
                      {"lora_dropout", shortest(lc.dropout)},
                      {"target_modules", targets},
                      {"bias", "none"},
                      {"fan_in_fan_out", false},
                      {"inference_mode", true},
                      {"base_model_name_or_path", base_model}};
  write_file_atomic(dir + "/adapter_config.json", j.dump(2) + "\n");
}

void commit_dir(const std::string& tmp_dir, const std::string& final_dir) {
  std::error_code ec;
  const std::string old = final_dir + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(final_dir)) fs::rename(final_dir, old, ec);
  fs::rename(tmp_dir, final_dir, ec);
  if (ec) fail(ErrorKind::kIo, final_dir, ": cannot move checkpoint into place: ", ec.message());
  fs::remove_all(old, ec);
}

}  // namespace dm
