// TrainModel: fp32 master weights, their gradients, optional LoRA adapters, and one forward+backward over
// a batch (B sequences of T tokens, positions 0..T-1 each). The forward is the decoder block inference
// runs (model/decoder_block.h) with training's executor; Qwen1's logn attention and dynamic NTK are
// inference-only (training runs at alpha 1 without logn, as the reference does).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/model/config.h"
#include "devops_model/model/decoder_block.h"
#include "devops_model/model/weights.h"

namespace dm {

class Model;

// One trainable tensor: f32 value, gradient of the same shape, and whether AdamW decays it.
struct Param {
  std::string name;  // canonical HF-Qwen2 name, or the PEFT module name + ".lora_A.weight" / ".lora_B.weight"
  Tensor value, grad;
  bool decay = false;  // 2-D base weight matrices only (not norms, biases, LoRA)
  float* v() { return value.f32(); }
  float* g() { return grad.f32(); }
  int64_t numel() const { return value.numel(); }
};

// LoRA: y = W x + (alpha / rank) * B (A dropout(x)), A (rank, in), B (out, rank).
struct LoraConfig {
  int rank = 8;
  float alpha = 16.f;
  float dropout = 0.f;
  // Modules by PEFT's list rule (a name or a dotted suffix of one) in the module names of the model's
  // family (its file says them: Qwen2/3 q_proj .. down_proj; Qwen1's fused q/k/v module takes one
  // adapter). "all" = every linear module of the decoder layers.
  std::vector<std::string> targets;
  std::string targets_regex;  // PEFT's string form of target_modules: full match of the module name
};

// The module an adapter on this projection belongs to, as PEFT names it on the family's HF model:
// "model.layers.0.self_attn.q_proj"; the projections of a fused module share its name.
std::string lora_module(const ModelConfig& c, int layer, Proj p);
// target_modules for adapter_config.json that select exactly `enabled` (layer-free module names such as
// "self_attn.o_proj"), each as short as possible.
std::vector<std::string> lora_target_modules(const ModelConfig& c, const std::vector<std::string>& enabled);

class TrainModel {
 public:
  // Copies the weights (any dtype) into owned f32 master tensors.
  TrainModel(const ModelConfig& config, const ModelWeights& weights);
  static std::unique_ptr<TrainModel> from_model(const Model& m);
  // LoRA / QLoRA over a frozen base: the weight matrices stay in `m` in their loaded dtype (GGUF block types,
  // --dtype q8_0 .., bf16, f16, f32) and are never copied; only the 1-D tensors (norms, biases) get f32
  // copies. The projections run the inference matmul forward and a tiled dequantizing backward for dx.
  // Only adapters train: forward_backward before enable_lora is Error(kInvalidArgument).
  static std::unique_ptr<TrainModel> over_frozen_base(std::shared_ptr<const Model> m);
  bool frozen_base() const { return frozen_source_ != nullptr; }
  ~TrainModel();

  const ModelConfig& config() const { return config_; }
  // Views of the weights (lm_head aliases embed when tied), usable by Model for inference: the f32 masters,
  // or with a frozen base its matrices in their own dtype.
  const ModelWeights& weights() const { return w_; }

  // Adds adapters on the configured targets of every layer with A ~ kaiming-uniform(seed), B = 0 (PEFT's
  // init) and freezes the base. Error(kInvalidArgument) on a target that names no module.
  void enable_lora(const LoraConfig& cfg, uint64_t seed);
  // target_modules that re-create exactly the enabled adapters (for adapter_config.json); empty when
  // the adapters were chosen by a regex, which is written back as PEFT's string form instead.
  std::vector<std::string> lora_target_modules() const;
  // Folds every adapter into its base weight: W += (alpha / r) * B A (the adapters stay as they are).
  void merge_lora();
  bool lora_enabled() const { return lora_on_; }
  const LoraConfig& lora_config() const { return lora_cfg_; }
  // Seed for LoRA dropout masks (changes every call of forward_backward).
  void set_dropout_seed(uint64_t seed) {
    dropout_seed_ = seed;
    dropout_calls_ = 0;
  }

  // What the optimizer updates: base params (full fine-tuning) or only LoRA params. Stable order.
  std::vector<Param*> trainable();
  std::vector<Param>& base_params() { return base_; }
  std::vector<Param>& lora_params() { return lora_; }
  Param* find(const std::string& name);  // base or LoRA param by name, nullptr if absent

  void zero_grad();
  // One forward + backward over ids/labels (B, T) row-major; labels are UNshifted (HF convention:
  // position t predicts labels[t+1]; -100 ignored). Gradients of (mean loss * grad_scale) accumulate into
  // trainable params. Returns the mean loss over non-ignored labels (0 if none).
  // grad_scale = 1 / gradient_accumulation_steps for accumulation.
  double forward_backward(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T, float grad_scale = 1.f);
  // Forward only (no gradients): the mean loss.
  double loss_only(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T);
  // Hook called with every named intermediate value of the forward (see TraceEvent); empty = none.
  void set_trace(TraceFn fn) { trace_ = std::move(fn); }
  // Gradient checkpointing (HF's gradient_checkpointing): the forward keeps only each layer's input and the
  // backward recomputes the layer; the gradients are the same, the kept activations one layer's worth.
  void set_gradient_checkpointing(bool on) { grad_ckpt_ = on; }
  bool gradient_checkpointing() const { return grad_ckpt_; }
  // Mixed precision (HF's --bf16): the base matmuls (projections, head) take bf16-rounded weights and
  // activations with f32 sums (kernels: gemm_acc_bf16); master weights, gradients' sums, norms, softmax,
  // attention, the loss and the optimizer stay f32.
  void set_bf16(bool on) { bf16_ = on; }
  bool bf16() const { return bf16_; }
  // Bytes of activations the last forward_backward kept for its backward (and recomputed ones' room).
  int64_t kept_activation_bytes() const;
  // Hook called during the backward as soon as layer l's gradients are final (layers in reverse order), so
  // their reduction over ranks can start while the lower layers' backward runs; empty = none.
  void set_on_layer_grads(std::function<void(int layer)> fn) { on_layer_grads_ = std::move(fn); }

  struct Impl;  // activations and per-layer adapter tables (train_step.cpp)

 private:
  ModelConfig config_;
  std::vector<Param> base_;
  std::vector<Param> lora_;
  ModelWeights w_, g_;  // views into base_ values / grads
  LoraConfig lora_cfg_;
  bool lora_on_ = false;
  uint64_t dropout_seed_ = 0;
  uint64_t dropout_calls_ = 0;
  std::unique_ptr<Impl> impl_;
  TraceFn trace_;
  std::function<void(int)> on_layer_grads_;
  bool grad_ckpt_ = false;
  bool bf16_ = false;
  std::shared_ptr<const Model> frozen_source_;  // owner of the frozen base's matrices (over_frozen_base)
  friend struct Impl;
  TrainModel(const ModelConfig& config, const ModelWeights& weights, bool keep_matrices);
  double run(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T, float grad_scale, bool backward);
};

}  // namespace dm
