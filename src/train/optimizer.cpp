// AdamW, gradient clipping and LR schedules, with the exact formula order of the PyTorch / HF code.
#include "devops_model/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"

namespace dm {

std::vector<ParamRange> whole_ranges(const std::vector<Param*>& params) {
  std::vector<ParamRange> r;
  for (Param* p : params) r.push_back({0, p->numel()});
  return r;
}

void AdamW::step(const std::vector<Param*>& params, double lr, const std::vector<ParamRange>* owned) {
  const std::vector<ParamRange> whole = owned ? std::vector<ParamRange>() : whole_ranges(params);
  const std::vector<ParamRange>& ranges = owned ? *owned : whole;
  if (m_.size() != params.size()) {
    m_.clear(), v_.clear();
    for (size_t i = 0; i < params.size(); ++i) {
      const bool all = ranges[i].size() == params[i]->numel();
      const std::vector<int64_t> shape = all ? params[i]->value.shape() : std::vector<int64_t>{ranges[i].size()};
      m_.push_back(Tensor::zeros_f32(shape));
      v_.push_back(Tensor::zeros_f32(shape));
    }
  }
  ++step_;
  // torch _single_tensor_adamw: bias corrections in double (Python floats), tensors in f32.
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(step_));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
  const float eps = static_cast<float>(cfg_.eps);
  const float decay = static_cast<float>(1.0 - lr * cfg_.weight_decay);
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = *params[i];
    float* w = p.v() + ranges[i].begin;
    const float* g = p.g() + ranges[i].begin;
    float* m = m_[i].f32();
    float* v = v_[i].f32();
    const bool wd = p.decay && cfg_.weight_decay != 0.0;
    const float wd_factor = wd ? decay : 1.0f;  // x 1 is exact: one loop for both
    parallel_for(ranges[i].size(), [&](int64_t a, int64_t b) {
      // Element-wise (w, g, m, v never overlap): SIMD lanes give each element the scalar loop's exact bits.
#pragma omp simd
      for (int64_t k = a; k < b; ++k) {
        w[k] *= wd_factor;
        m[k] += (g[k] - m[k]) * (1.0f - b1);  // exp_avg.lerp_(grad, 1 - beta1)
        v[k] = v[k] * b2 + (1.0f - b2) * g[k] * g[k];
        const float denom = std::sqrt(v[k]) / bc2_sqrt + eps;
        w[k] += -step_size * (m[k] / denom);
      }
    });
  }
}

double grad_square_sum(const std::vector<Param*>& params, const std::vector<ParamRange>& ranges) {
  // Per-tensor sums then their total, as torch's norm of norms; in double. A tensor is summed in fixed
  // blocks (in parallel), each block in 8 interleaved partial sums (so it vectorises), the partials and
  // then the blocks added in order: the result depends on the data alone, never on the thread count.
  constexpr int64_t kBlock = int64_t{1} << 14, kLanes = 8;
  double total_sq = 0.0;
  std::vector<double> block_sums;
  for (size_t i = 0; i < params.size(); ++i) {
    const float* g = params[i]->g() + ranges[i].begin;
    const int64_t n = ranges[i].size();
    block_sums.assign(static_cast<size_t>((n + kBlock - 1) / kBlock), 0.0);
    parallel_for(static_cast<int64_t>(block_sums.size()), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t k0 = b * kBlock, k1 = std::min(n, k0 + kBlock);
        double lanes[kLanes] = {};
        int64_t k = k0;
        for (; k + kLanes <= k1; k += kLanes)
          for (int64_t j = 0; j < kLanes; ++j) lanes[j] += static_cast<double>(g[k + j]) * g[k + j];
        for (; k < k1; ++k) lanes[0] += static_cast<double>(g[k]) * g[k];
        double s = 0.0;
        for (double x : lanes) s += x;
        block_sums[static_cast<size_t>(b)] = s;
      }
    });
    double s = 0.0;
    for (double x : block_sums) s += x;
    total_sq += s;
  }
  return total_sq;
}

double clip_coefficient(double norm, double max_norm) {
  if (max_norm <= 0) return 1.0;
  return std::min(1.0, max_norm / (norm + 1e-6));
}

void scale_grads(const std::vector<Param*>& params, const std::vector<ParamRange>& ranges, float coef) {
  for (size_t i = 0; i < params.size(); ++i) {
    float* g = params[i]->g();
    parallel_for(ranges[i].size(), [&](int64_t a, int64_t b) {
      for (int64_t k = ranges[i].begin + a; k < ranges[i].begin + b; ++k) g[k] *= coef;
    });
  }
}

double clip_grad_norm(const std::vector<Param*>& params, double max_norm) {
  const std::vector<ParamRange> all = whole_ranges(params);
  const double norm = std::sqrt(grad_square_sum(params, all));
  const double coef = clip_coefficient(norm, max_norm);
  if (coef < 1.0) scale_grads(params, all, static_cast<float>(coef));
  return norm;
}

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "constant" || name == "constant_with_warmup") return LrSchedule::kConstant;
  if (name == "linear") return LrSchedule::kLinear;
  if (name == "cosine") return LrSchedule::kCosine;
  fail(ErrorKind::kInvalidArgument, "lr_scheduler_type: unknown '", name, "' (constant|linear|cosine)");
}

int64_t warmup_steps_for(double warmup_ratio, int64_t total) {
  return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total)));
}

double lr_at(LrSchedule s, double base_lr, int64_t step, int64_t total, int64_t warmup) {
  // HF LambdaLR factors; `step` is the number of optimizer steps already taken.
  if (step < warmup) return base_lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  switch (s) {
    case LrSchedule::kConstant: return base_lr;
    case LrSchedule::kLinear:
      return base_lr * std::max(0.0, static_cast<double>(total - step) /
                                         static_cast<double>(std::max<int64_t>(1, total - warmup)));
    case LrSchedule::kCosine: return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress)));
  }
  return base_lr;
}

}  // namespace dm
