// Trainer: the loop around TrainModel (batches in seeded order, gradient accumulation, clipping, AdamW,
// LR schedule), logging and checkpoints (HF dir + optimizer.safetensors + trainer_state.json) that
// `resume` continues bit-identically (same thread count).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "devops_model/train/data_parallel.h"
#include "devops_model/train/optimizer.h"
#include "devops_model/train/train_model.h"

namespace dm {

// One training sequence; labels UNshifted, same length as ids (-100 = no loss), HF convention.
struct Example {
  std::vector<int32_t> ids, labels;
};

struct TrainArgs {
  std::string output_dir;
  std::string source_dir;     // config.json / generation_config.json / tokenizer files copied from here
  std::string tokenizer_dir;  // if set: tokenizer files copied from here instead (from-scratch models)
  double learning_rate = 5e-5;
  int batch_size = 1;  // per_device_train_batch_size
  int grad_accum = 1;  // gradient_accumulation_steps
  std::string lr_scheduler_type = "linear";
  double warmup_ratio = 0.0;
  int64_t max_steps = -1;  // > 0 overrides num_train_epochs
  double num_train_epochs = 3.0;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  uint64_t seed = 42;
  bool shuffle = true;
  int64_t save_steps = 500;  // <= 0: only the final checkpoint
  int32_t pad_id = 0;        // right padding of shorter sequences in a batch (labels -100)
  int zero_stage = 0;        // with several ranks: 0 (all-reduce), 1 (sharded moments), 2 (+ sharded gradients)
};

struct StepLog {
  int64_t step = 0;  // 1-based optimizer step
  double loss = 0, grad_norm = 0, lr = 0;
  int64_t tokens = 0;  // tokens processed in this step (padding excluded)
  double seconds = 0;
};

class Trainer {
 public:
  // Error(kInvalidArgument) on empty data or bad arguments. With a group of N ranks every rank runs this
  // (same arguments and data): a step's N * gradient_accumulation_steps micro-batches are the ones one
  // process would take with N times the accumulation, rank r taking every N-th from the r-th, so the
  // trajectory is that run's. Only rank 0 writes checkpoints.
  Trainer(TrainArgs args, TrainModel& model, std::vector<Example> data,
          ProcessGroup& group = ProcessGroup::single());

  int64_t total_steps() const { return total_steps_; }
  const DataParallel& data_parallel() const { return dp_; }
  const TrainArgs& args() const { return args_; }
  int64_t step() const { return step_; }
  const std::vector<StepLog>& history() const { return history_; }

  StepLog train_step();
  // Steps until total_steps() (or `stop_at` steps), checkpointing every save_steps and at the end
  // (unless stopped early).
  void train(const std::function<void(const StepLog&)>& on_step, int64_t stop_at = -1);
  // Writes output_dir/checkpoint-<step> atomically; returns its path.
  std::string save_checkpoint();
  // Restores weights, optimizer moments and the data position from a checkpoint directory.
  // Error(kInvalidArgument) when the checkpoint is of another run (seed, data, batch size, accumulation or
  // shuffling differ); a changed schedule (max_steps, learning rate, scheduler, warmup) only warns.
  // Error(kFormat / kIo) when its files are damaged.
  void resume(const std::string& ckpt_dir);

 private:
  int64_t micro_batches_per_step() const { return int64_t{args_.grad_accum} * dp_.ranks(); }
  std::vector<size_t> epoch_order(int64_t epoch) const;
  void make_batch(int64_t micro_index, std::vector<int32_t>& ids, std::vector<int32_t>& labels, int64_t& T,
                  int64_t& tokens) const;

  TrainArgs args_;
  TrainModel& model_;
  std::vector<Example> data_;
  DataParallel dp_;
  AdamW opt_;
  LrSchedule sched_;
  int64_t batches_per_epoch_ = 0, total_steps_ = 0, warmup_ = 0;
  int64_t step_ = 0, micro_ = 0;  // optimizer steps done, micro-batches consumed by all ranks (data position)
  std::vector<StepLog> history_;
};

// output_dir/checkpoint-N directories holding a trainer_state.json, highest N first.
std::vector<std::string> checkpoints_newest_first(const std::string& output_dir);
// Finds the newest output_dir/checkpoint-N (empty string when none).
std::string latest_checkpoint(const std::string& output_dir);
// Resumes `tr` from the newest checkpoint that loads; a damaged one (kFormat / kIo) is skipped with a
// warning on stderr. Returns the directory resumed from ("" when there is none); Error when every one is
// damaged, or (not skipped) when one belongs to another run.
std::string resume_from_latest_good(Trainer& tr, const std::string& output_dir);

// Writes the loss curve of `history` as a standalone SVG file.
void write_loss_svg(const std::vector<StepLog>& history, const std::string& path);

}  // namespace dm
