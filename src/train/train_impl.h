// Private state of TrainModel: LoRA tables and the activations one forward keeps for its backward.
// Legend: N = B*T rows, C hidden, Q = H*D, KVD = KV*D, F MLP width, r LoRA rank.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "devops_model/train/train_model.h"

namespace dm {

struct LoraActs {
  std::vector<float> xd;      // (N, in) dropped-out input (only with dropout)
  std::vector<uint8_t> mask;  // (N, in) kept elements (only with dropout)
  std::vector<float> ax;      // (N, r) A applied to the (dropped-out) input
};

struct LayerActs {
  std::vector<float> x_in, h1, rstd1;                 // (N,C), (N,C), (N)
  std::vector<float> q_lin, qn_rstd, k_lin, kn_rstd;  // pre-norm q/k (N,Q)/(N,KVD), rstd (N*H)/(N*KV): qk_norm
  std::vector<float> q, k, v, att, lse;               // post-RoPE q (N,Q), k/v (N,KVD), att (N,Q), lse (B,H,T)
  std::vector<float> x_mid, h2, rstd2;                // (N,C), (N,C), (N)
  std::vector<float> gate, up, act;                   // (N,F) each
  std::array<LoraActs, static_cast<size_t>(Proj::kCount)> lora;
};

// Where a projection's adapter lives: lora_[a] is A, lora_[a + 1] is B, whose rows from row0 are this
// projection's. Projections of one fused module (a fused q/k/v) share A and its dropped-out input, which
// the first of them (`owner`) computes.
struct LoraSlot {
  int a = -1;  // -1 = no adapter
  int64_t row0 = 0;
  int owner = -1;  // Proj index that computes A·dropout(x) for this module
};

// The forward's residual stream and the backward's gradients of activations, kept between steps.
struct TrainScratch {
  std::vector<float> x, tmp, dhf, logits, dx, dh, datt, dq, dk, dv, dql, dkl, dact, dg, du;
};

struct TrainModel::Impl {
  std::vector<std::array<LoraSlot, static_cast<size_t>(Proj::kCount)>> lora;
  std::vector<LayerActs> acts;  // per layer; with gradient checkpointing only x_in
  LayerActs scratch;            // gradient checkpointing: the layer being differentiated
  std::vector<float> xf, hf, rstdf;  // final norm input (N,C), output (N,C), rstd (N)
  TrainScratch scratch_buffers;
};

}  // namespace dm
