// BERT encoder (Hugging Face BertModel, post-LayerNorm) for sentence embeddings, with the pooling
// that a sentence-transformers model declares. Weights are viewed in place (mmap) from safetensors or
// PyTorch .bin; tensor names may carry a "bert." prefix (checkpoints saved from BertFor*) and old
// TF conversions' LayerNorm.gamma/beta are accepted.
//
// Shape legend: B sequences, L padded length, C hidden size, H heads, D = C / H, I intermediate size.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/formats/checkpoint.h"

namespace dm {

struct BertConfig {
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, intermediate_size = 0;
  int64_t max_position_embeddings = 512, type_vocab_size = 2;
  float layer_norm_eps = 1e-12f;
  std::string hidden_act = "gelu";  // gelu (erf), gelu_new / gelu_pytorch_tanh, relu
  // Error(kFormat / kUnsupported) naming the file and field.
  static BertConfig from_json_file(const std::string& path);
};

enum class BertPooling { kMean, kCls };

// How token states become one sentence vector (sentence-transformers' Pooling + Normalize modules).
struct PoolingConfig {
  BertPooling mode = BertPooling::kMean;
  bool normalize = false;  // L2-normalise (a Normalize module in modules.json)
  // modules.json -> the Pooling module's config.json, else 1_Pooling/config.json, else
  // pooling_config.json; mean pooling when none exists.
  static PoolingConfig from_dir(const std::string& dir);
};

struct BertLayerWeights {
  TensorView q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;  // (C, C), (C)
  std::vector<float> ln1_w, ln1_b;                    // attention.output.LayerNorm
  TensorView up_w, up_b, down_w, down_b;              // intermediate (I, C), output (C, I)
  std::vector<float> ln2_w, ln2_b;                    // output.LayerNorm
};

class BertEncoder {
 public:
  // config.json + weights + pooling config of a model directory.
  static BertEncoder load_dir(const std::string& dir);
  BertEncoder(BertConfig cfg, const CheckpointTensors& ckpt, PoolingConfig pooling, const std::string& dir);

  // last_hidden_state (B, L, C) for right-padded ids (B, L) with attention mask (B, L) (1 = token).
  // Token types are 0, positions 0..L-1. Error(kInvalidArgument) for L > max_position_embeddings or
  // an id outside the vocabulary.
  Tensor forward(const int32_t* ids, const int32_t* mask, int64_t B, int64_t L) const;
  // Sentence vectors (B, C) from hidden states (B, L, C): mean over the mask or the [CLS] row.
  Tensor pool(const Tensor& hidden, const int32_t* mask, int64_t B, int64_t L) const;
  // Embeds many token sequences (each [CLS] ... [SEP], at most max_position_embeddings long): sorted
  // by length into batches of `batch_size`, padded per batch; with several batches, one batch per
  // thread at a time. Returns (N, C) in input order, identical for any thread count.
  Tensor encode(const std::vector<std::vector<int32_t>>& seqs, int64_t batch_size = 32) const;

  const BertConfig& config() const { return cfg_; }
  const PoolingConfig& pooling() const { return pooling_; }

 private:
  void layer_forward(const BertLayerWeights& w, float* x, const int32_t* mask, int64_t B, int64_t L) const;

  BertConfig cfg_;
  PoolingConfig pooling_;
  CheckpointTensors ckpt_;  // keeps the mappings alive
  TensorView word_, pos_, type_;
  std::vector<float> emb_ln_w_, emb_ln_b_;
  std::vector<BertLayerWeights> layers_;
};

}  // namespace dm
