// Vocabulary resizing of a checkpoint (see checkpoint.h): used by `tokenizer extend`.
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/model/model.h"
#include "devops_model/train/checkpoint.h"
#include "model/family.h"

namespace fs = std::filesystem;

namespace dm {

namespace {

// [old_rows, H] -> [rows, H]; new rows = the mean of the old ones.
Tensor grow_rows(const TensorView& t, int64_t rows) {
  const int64_t old = t.shape[0], h = t.shape[1];
  Tensor out = Tensor::zeros_f32({rows, h});
  float* dst = out.f32();
  const float* src = t.f32();
  std::memcpy(dst, src, static_cast<size_t>(old * h) * sizeof(float));
  std::vector<double> mean(static_cast<size_t>(h), 0.0);
  for (int64_t r = 0; r < old; ++r)
    for (int64_t c = 0; c < h; ++c) mean[static_cast<size_t>(c)] += src[r * h + c];
  for (int64_t r = old; r < rows; ++r)
    for (int64_t c = 0; c < h; ++c)
      dst[r * h + c] = static_cast<float>(mean[static_cast<size_t>(c)] / static_cast<double>(old));
  return out;
}

}  // namespace

void resize_vocab_checkpoint(const std::string& model_dir, int64_t rows, const std::string& out_dir) {
  auto base = Model::load(model_dir);
  auto tm = TrainModel::from_model(*base);
  base.reset();
  const int64_t old_rows = tm->config().vocab_size;
  if (rows < old_rows) fail(ErrorKind::kInvalidArgument, "new vocabulary ", rows, " < current ", old_rows);
  // Grow the canonical slots; the family writes them under its own names.
  ModelConfig config = tm->config();
  config.vocab_size = static_cast<int>(rows);
  ModelWeights w = tm->weights();
  std::vector<Tensor> keep;
  keep.push_back(grow_rows(w.embed, rows));
  const bool tied = w.lm_head.data == w.embed.data;
  w.embed = keep.back().view();
  if (tied) {
    w.lm_head = w.embed;
  } else {
    keep.push_back(grow_rows(w.lm_head, rows));
    w.lm_head = keep.back().view();
  }
  const auto tensors = family_checkpoint_tensors(config, w, keep);
  make_directories(out_dir);
  write_safetensors(out_dir + "/model.safetensors", tensors);
  // The source's config.json (it may carry keys we do not model) with the family's keys for the new size.
  nlohmann::json cfg = nullptr;
  if (fs::exists(model_dir + "/config.json")) cfg = read_json_file(model_dir + "/config.json");
  if (cfg.is_null()) cfg = nlohmann::json::object();
  cfg.update(config_to_hf_json(config));
  cfg["torch_dtype"] = "float32";
  write_file_atomic(out_dir + "/config.json", cfg.dump(2) + "\n");
  if (fs::exists(model_dir + "/generation_config.json"))
    fs::copy_file(model_dir + "/generation_config.json", out_dir + "/generation_config.json",
                  fs::copy_options::overwrite_existing);
  copy_tokenizer_files(model_dir, out_dir);
}

}  // namespace dm
