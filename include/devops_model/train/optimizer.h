// AdamW (torch.optim.AdamW semantics), global-norm gradient clipping (torch.nn.utils.clip_grad_norm_) and
// learning-rate schedules (Hugging Face get_{constant,linear,cosine}_schedule_with_warmup).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/train/train_model.h"

namespace dm {

// Elements [begin, end) of one param: the part whose update (and optimizer state) a rank owns.
struct ParamRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
// [0, numel) of every param.
std::vector<ParamRange> whole_ranges(const std::vector<Param*>& params);

struct AdamWConfig {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // decoupled; applied only to params with Param::decay
};

class AdamW {
 public:
  explicit AdamW(AdamWConfig cfg) : cfg_(cfg) {}
  // One update of every param with its current grad at learning rate lr (the schedule's value), or of
  // only the `owned` range of each (ZeRO shards: the moments then cover just that range, flat).
  // Moments are created on first use, keyed by position in `params` (keep the order stable).
  void step(const std::vector<Param*>& params, double lr, const std::vector<ParamRange>* owned = nullptr);
  int64_t steps() const { return step_; }
  const AdamWConfig& config() const { return cfg_; }
  // State for checkpoints: exp_avg / exp_avg_sq per param, and the step count.
  std::vector<Tensor>& exp_avg() { return m_; }
  std::vector<Tensor>& exp_avg_sq() { return v_; }
  void set_steps(int64_t s) { step_ = s; }

 private:
  AdamWConfig cfg_;
  int64_t step_ = 0;
  std::vector<Tensor> m_, v_;
};

// Global L2 norm of all grads (before clipping); if max_norm > 0 scales grads by
// min(1, max_norm / (norm + 1e-6)). Returns the norm.
double clip_grad_norm(const std::vector<Param*>& params, double max_norm);
// The pieces of clip_grad_norm, for grads spread over ranks: the sum of squares over `ranges` (in double,
// per param then over params, in order), and the clipping factor for a norm (1 = no clipping).
double grad_square_sum(const std::vector<Param*>& params, const std::vector<ParamRange>& ranges);
double clip_coefficient(double norm, double max_norm);
void scale_grads(const std::vector<Param*>& params, const std::vector<ParamRange>& ranges, float coef);

enum class LrSchedule { kConstant, kLinear, kCosine };
LrSchedule parse_lr_schedule(const std::string& name);  // "constant" | "linear" | "cosine"; Error otherwise
// Learning rate for 0-based optimizer step `step` of `total` with linear warmup over warmup_steps.
double lr_at(LrSchedule s, double base_lr, int64_t step, int64_t total, int64_t warmup_steps);
// HF: warmup_steps = ceil(warmup_ratio * total)
int64_t warmup_steps_for(double warmup_ratio, int64_t total);

}  // namespace dm
