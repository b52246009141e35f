// TrainModel construction: f32 master copies of the weights, gradient buffers, LoRA adapters.
#include "devops_model/train/train_model.h"

#include <cmath>
#include <cstring>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/model/model.h"
#include "train_impl.h"

namespace dm {

TrainModel::TrainModel(const ModelConfig& config, const ModelWeights& weights)
    : TrainModel(config, weights, false) {}

TrainModel::TrainModel(const ModelConfig& config, const ModelWeights& weights, bool keep_matrices)
    : config_(config), impl_(std::make_unique<Impl>()) {
  w_ = weights;
  g_ = weights;
  const bool tied = config_.tie_embeddings;
  base_.reserve(16 * static_cast<size_t>(config_.num_layers) + 4);
  // Visit the caller's slots; replace each non-empty one by an owned f32 copy + a zero gradient.
  ModelWeights src = weights;
  std::vector<std::pair<std::string, TensorView>> slots;
  src.for_each([&](const std::string& name, TensorView& v) { slots.emplace_back(name, v); });
  // A frozen base keeps its matrices where they are (views); only what is not a matrix gets a copy.
  auto kept_view = [&](const TensorView& v) { return keep_matrices && v.shape.size() == 2; };
  for (auto& [name, v] : slots) {
    if (v.empty() || (tied && name == "lm_head.weight") || kept_view(v)) continue;
    Param p;
    p.name = name;
    p.value = Tensor::zeros_f32(v.shape);
    std::vector<float> f = v.to_f32();
    std::memcpy(p.value.f32(), f.data(), f.size() * sizeof(float));
    p.grad = Tensor::zeros_f32(v.shape);
    p.decay = v.shape.size() == 2;
    base_.push_back(std::move(p));
  }
  // Point w_ / g_ slots at the owned buffers.
  size_t i = 0;
  auto assign = [&](ModelWeights& mw, bool grads) {
    i = 0;
    mw.for_each([&](const std::string& name, TensorView& v) {
      if (v.empty()) return;
      if (tied && name == "lm_head.weight") return;
      if (kept_view(v)) {
        if (grads) v = TensorView{};  // frozen: no gradient slot
        return;
      }
      DM_CHECK(i < base_.size() && base_[i].name == name);
      v = grads ? base_[i].grad.view() : base_[i].value.view();
      ++i;
    });
    if (tied) mw.lm_head = mw.embed;
  };
  assign(w_, false);
  assign(g_, true);
  impl_->lora.assign(static_cast<size_t>(config_.num_layers), {});
}

std::unique_ptr<TrainModel> TrainModel::from_model(const Model& m) {
  return std::make_unique<TrainModel>(m.config(), m.weights());
}

std::unique_ptr<TrainModel> TrainModel::over_frozen_base(std::shared_ptr<const Model> m) {
  std::unique_ptr<TrainModel> t(new TrainModel(m->config(), m->weights(), true));
  t->frozen_source_ = std::move(m);
  return t;
}

TrainModel::~TrainModel() = default;

std::vector<Param*> TrainModel::trainable() {
  std::vector<Param*> out;
  for (Param& p : lora_on_ ? lora_ : base_) out.push_back(&p);
  return out;
}

Param* TrainModel::find(const std::string& name) {
  for (Param& p : base_)
    if (p.name == name) return &p;
  for (Param& p : lora_)
    if (p.name == name) return &p;
  return nullptr;
}

void TrainModel::zero_grad() {
  for (Param* p : trainable()) clear_parallel(p->g(), p->numel());
}

double TrainModel::forward_backward(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T, float grad_scale) {
  return run(ids, labels, B, T, grad_scale, true);
}

double TrainModel::loss_only(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T) {
  return run(ids, labels, B, T, 1.f, false);
}

}  // namespace dm
