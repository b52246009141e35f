// Named weights of the decoder (one struct for every family) and the store that owns their memory.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/formats/checkpoint.h"

namespace dm {

// The linear projections of a decoder layer (order = LayerWeights fields); LoRA adapters attach to them.
enum class Proj { kQ, kK, kV, kO, kGate, kUp, kDown, kCount };
const char* proj_name(Proj p);  // canonical module name: "q_proj", ..., "down_proj"

// Matrices are (out, in) as PyTorch stores them. Absent optional tensors are empty views.
struct LayerWeights {
  TensorView input_norm;              // (C)
  TensorView q, k, v;                 // (H*D, C), (KV*D, C), (KV*D, C); views into c_attn for Qwen1
  TensorView q_bias, k_bias, v_bias;  // (H*D), (KV*D), (KV*D) when qkv_bias
  TensorView q_norm, k_norm;          // (D) when qk_norm (Qwen3)
  TensorView o;                       // (C, H*D)
  TensorView post_norm;               // (C)
  TensorView gate, up;                // (F, C)
  TensorView down;                    // (C, F)

  const TensorView& proj(Proj p) const;
  TensorView& proj(Proj p);
  const TensorView& proj_bias(Proj p) const;  // q/k/v biases; empty for the others
};

struct ModelWeights {
  TensorView embed;  // (V, C)
  std::vector<LayerWeights> layers;
  TensorView final_norm;  // (C)
  TensorView lm_head;     // (V, C); = embed when tied

  // Visits every named tensor slot with its canonical (Qwen2-style HF) name; used by loading
  // conversions, saving, random init, and the optimizer. Empty optional slots are visited too.
  template <typename Fn>
  void for_each(Fn&& fn);
};

// Owns what the views point into: mapped checkpoint files and/or owned buffers (f32 copies, random init).
class WeightStore {
 public:
  void keep(CheckpointTensors ckpt) { ckpt_ = std::move(ckpt); }
  const CheckpointTensors* checkpoint() const { return ckpt_ ? &*ckpt_ : nullptr; }
  TensorView own(Tensor t) {
    owned_.push_back(std::move(t));
    return owned_.back().view();
  }
  // Mutable access for training: the owned buffer behind a view (nullptr if it is mapped).
  Tensor* owner_of(const TensorView& v);

 private:
  std::optional<CheckpointTensors> ckpt_;
  std::vector<Tensor> owned_;
};

template <typename Fn>
void ModelWeights::for_each(Fn&& fn) {
  fn(std::string("model.embed_tokens.weight"), embed);
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerWeights& l = layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    fn(p + "input_layernorm.weight", l.input_norm);
    fn(p + "self_attn.q_proj.weight", l.q);
    fn(p + "self_attn.k_proj.weight", l.k);
    fn(p + "self_attn.v_proj.weight", l.v);
    fn(p + "self_attn.q_proj.bias", l.q_bias);
    fn(p + "self_attn.k_proj.bias", l.k_bias);
    fn(p + "self_attn.v_proj.bias", l.v_bias);
    fn(p + "self_attn.q_norm.weight", l.q_norm);
    fn(p + "self_attn.k_norm.weight", l.k_norm);
    fn(p + "self_attn.o_proj.weight", l.o);
    fn(p + "post_attention_layernorm.weight", l.post_norm);
    fn(p + "mlp.gate_proj.weight", l.gate);
    fn(p + "mlp.up_proj.weight", l.up);
    fn(p + "mlp.down_proj.weight", l.down);
  }
  fn(std::string("model.norm.weight"), final_norm);
  fn(std::string("lm_head.weight"), lm_head);
}

}  // namespace dm
