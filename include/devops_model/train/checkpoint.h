// Training checkpoints as Hugging Face directories: model.safetensors (the family's own tensor names,
// fused tensors re-fused as the family stores them), config.json, generation_config.json and tokenizer files copied
// from the source model; PEFT LoRA adapters; optimizer + trainer state beside them. Directories are built under a
// temporary name and renamed into place, so a killed writer never leaves a half checkpoint.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/train/train_model.h"

namespace dm {

// (checkpoint name, f32 tensor) in the family's layout (model/family.h); fused tensors are owned by `keep`.
std::vector<std::pair<std::string, TensorView>> family_tensors(TrainModel& m, std::vector<Tensor>& keep);

// Writes model.safetensors (f32) + config.json + generation_config.json into `dir` (must exist) and copies
// tokenizer files found in `source_dir` (may be empty).
void write_model_files(TrainModel& m, const std::string& dir, const std::string& source_dir);

// adapter_model.safetensors (PEFT names: base_model.model.<module>.lora_A.weight) + adapter_config.json.
void write_lora_adapter(TrainModel& m, const std::string& dir, const std::string& base_model);

// Merges the PEFT LoRA adapter in adapter_dir (adapter_config.json + adapter_model.safetensors, as
// write_lora_adapter writes them) into the checkpoint in model_dir: W' = W + (alpha / r) * B * A, written
// as an f32 checkpoint (config, generation config and tokenizer files from model_dir) to out_dir.
void merge_lora_checkpoint(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir);

// Atomically replaces `final_dir` with the directory `tmp_dir` (rename; an older final_dir is removed).
void commit_dir(const std::string& tmp_dir, const std::string& final_dir);

// Files of the tokenizer that checkpoints carry along.
const std::vector<std::string>& tokenizer_file_names();

// Copies the tokenizer files present in `from` into `to` (overwriting).
void copy_tokenizer_files(const std::string& from, const std::string& to);

// A copy of the checkpoint in model_dir with `rows` rows in the embedding (and lm_head): old rows kept,
// appended rows = the mean of the old rows (so new tokens start as an "average" token), written to out_dir
// as f32 model.safetensors + config.json (vocab_size = rows) + generation_config.json + tokenizer files.
// Error(kInvalidArgument) if rows is smaller than the current vocabulary.
void resize_vocab_checkpoint(const std::string& model_dir, int64_t rows, const std::string& out_dir);

}  // namespace dm
