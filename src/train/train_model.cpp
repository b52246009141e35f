// TrainModel construction: f32 master copies of the weights, gradient buffers, LoRA adapters.
#include "devops_model/train/train_model.h"

#include <cmath>
#include <cstring>
#include <random>

#include "devops_model/core/error.h"
#include "devops_model/model/model.h"
#include "train_impl.h"

namespace dm {

const char* proj_name(Proj p) {
  static const char* kNames[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return kNames[static_cast<int>(p)];
}

std::string proj_module(int layer, Proj p) {
  const bool attn = p == Proj::kQ || p == Proj::kK || p == Proj::kV || p == Proj::kO;
  return "model.layers." + std::to_string(layer) + (attn ? ".self_attn." : ".mlp.") + proj_name(p);
}

TrainModel::TrainModel(const ModelConfig& config, const ModelWeights& weights)
    : config_(config), impl_(std::make_unique<Impl>()) {
  w_ = weights;
  g_ = weights;
  const bool tied = config_.tie_embeddings;
  base_.reserve(16 * static_cast<size_t>(config_.num_layers) + 4);
  // Visit the caller's slots; replace each non-empty one by an owned f32 copy + a zero gradient.
  ModelWeights src = weights;
  std::vector<std::pair<std::string, TensorView>> slots;
  src.for_each([&](const std::string& name, TensorView& v) { slots.emplace_back(name, v); });
  for (auto& [name, v] : slots) {
    if (v.empty() || (tied && name == "lm_head.weight")) continue;
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
      DM_CHECK(i < base_.size() && base_[i].name == name);
      v = grads ? base_[i].grad.view() : base_[i].value.view();
      ++i;
    });
    if (tied) mw.lm_head = mw.embed;
  };
  assign(w_, false);
  assign(g_, true);
  impl_->lora.assign(static_cast<size_t>(config_.num_layers), {});
  for (auto& l : impl_->lora) l.fill(-1);
}

std::unique_ptr<TrainModel> TrainModel::from_model(const Model& m) {
  return std::make_unique<TrainModel>(m.config(), m.weights());
}

TrainModel::~TrainModel() = default;

void TrainModel::enable_lora(const LoraConfig& cfg, uint64_t seed) {
  std::vector<bool> on(static_cast<size_t>(Proj::kCount), false);
  for (const std::string& t : cfg.targets) {
    bool found = false;
    for (int p = 0; p < static_cast<int>(Proj::kCount); ++p) {
      if (t == "all" || t == proj_name(static_cast<Proj>(p))) {
        on[static_cast<size_t>(p)] = true;
        found = true;
      }
    }
    if (!found) fail(ErrorKind::kInvalidArgument, "lora_target: unknown module '", t, "'");
  }
  if (cfg.rank <= 0) fail(ErrorKind::kInvalidArgument, "lora_rank must be > 0");
  lora_cfg_ = cfg;
  lora_on_ = true;
  lora_.clear();
  std::mt19937_64 rng(seed);
  const int64_t C = config_.hidden_size, Q = config_.q_dim(), KVD = config_.kv_dim(), F = config_.intermediate_size;
  for (int l = 0; l < config_.num_layers; ++l) {
    for (int p = 0; p < static_cast<int>(Proj::kCount); ++p) {
      if (!on[static_cast<size_t>(p)]) continue;
      const Proj pj = static_cast<Proj>(p);
      int64_t in = C, out = C;
      if (pj == Proj::kQ) out = Q;
      if (pj == Proj::kK || pj == Proj::kV) out = KVD;
      if (pj == Proj::kO) in = Q;
      if (pj == Proj::kGate || pj == Proj::kUp) out = F;
      if (pj == Proj::kDown) in = F;
      const std::string m = proj_module(l, pj);
      Param a{m + ".lora_A.weight", Tensor::zeros_f32({cfg.rank, in}), Tensor::zeros_f32({cfg.rank, in}), false};
      Param b{m + ".lora_B.weight", Tensor::zeros_f32({out, cfg.rank}), Tensor::zeros_f32({out, cfg.rank}), false};
      // kaiming_uniform_(a=sqrt(5)) on (rank, in): bound = 1 / sqrt(in)
      std::uniform_real_distribution<float> u(-1.0f / std::sqrt(static_cast<float>(in)),
                                              1.0f / std::sqrt(static_cast<float>(in)));
      for (int64_t k = 0; k < a.numel(); ++k) a.v()[k] = u(rng);
      impl_->lora[static_cast<size_t>(l)][static_cast<size_t>(p)] = static_cast<int>(lora_.size());
      lora_.push_back(std::move(a));
      lora_.push_back(std::move(b));
    }
  }
}

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
  for (Param* p : trainable()) std::memset(p->g(), 0, static_cast<size_t>(p->numel()) * sizeof(float));
}

double TrainModel::forward_backward(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T,
                                    float grad_scale) {
  return run(ids, labels, B, T, grad_scale, true);
}

double TrainModel::loss_only(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T) {
  return run(ids, labels, B, T, 1.f, false);
}

}  // namespace dm
