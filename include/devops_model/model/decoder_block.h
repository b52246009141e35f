// One decoder layer, written once for every family and for both inference and training. The block is the
// sequence of operations (norm, q/k/v, optional q/k norm, RoPE, optional logn, attention, o_proj +
// residual, norm, SwiGLU + residual); an executor supplies the two steps that differ between the paths:
// the projections (any weight dtype at inference; f32 + LoRA in training) and attention (over the KV
// cache, several sequences at once, at inference; over whole training sequences, keeping the
// log-sum-exp, in training). What training's backward needs is kept by handing the block buffers that
// outlive it (LayerBuffers' optional fields). Shape legend: R rows, C hidden, H heads, KV kv heads,
// D head dim, Q = H*D, KVD = KV*D, F MLP width.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "devops_model/model/config.h"
#include "devops_model/model/weights.h"

namespace dm {

// Where one layer's values go. Optional (nullable) fields are what training keeps for its backward;
// without them the block works in place.
struct LayerBuffers {
  float* x = nullptr;        // (R, C) residual stream: the layer's input, updated in place to its output
  float* x_in = nullptr;     // (R, C) optional copy of the layer input
  float* h1 = nullptr;       // (R, C) input norm output
  float* rstd1 = nullptr;    // (R) optional
  float* q_lin = nullptr;    // (R, Q) optional (qk_norm): q before its norm; null = normed in place
  float* qn_rstd = nullptr;  // (R*H) optional
  float* k_lin = nullptr;    // (R, KVD) optional (qk_norm): k before its norm
  float* kn_rstd = nullptr;  // (R*KV) optional
  float* q = nullptr;        // (R, Q) after norm and RoPE (and logn)
  float* k = nullptr;        // (R, KVD) after norm and RoPE
  float* v = nullptr;        // (R, KVD)
  float* att = nullptr;      // (R, Q) attention output
  float* tmp = nullptr;      // (R, C) scratch: o_proj and down_proj outputs
  float* x_mid = nullptr;    // (R, C) optional copy of the residual stream after attention
  float* h2 = nullptr;       // (R, C) post-attention norm output
  float* rstd2 = nullptr;    // (R) optional
  float* gate = nullptr;     // (R, F)
  float* up = nullptr;       // (R, F)
  float* act = nullptr;      // (R, F) silu(gate) * up; may be `gate` (in place)
};

// Positions of the rows for RoPE: runs of consecutive rows that share rotary frequencies (one run per
// sequence at inference: Qwen1's dynamic NTK fixes a per-sequence base).
struct RowPositions {
  struct Run {
    int64_t row0 = 0, rows = 0;
    const int32_t* pos = nullptr;      // (rows) absolute positions
    const double* inv_freq = nullptr;  // (rotary_dim / 2)
  };
  std::vector<Run> runs;
  bool logn = false;  // Qwen1 logn scaling of q past seq_length (inference only, as the reference)
};

// A named intermediate value, as llama.cpp's per-tensor eval callback sees it; doubles as a debugging
// trace. Names: attn_norm, q, k, v, q_rope, k_rope, attn_out, attn_proj, attn_residual, ffn_norm, gate,
// up, ffn_act, ffn_out, layer_out (layer >= 0); embed, final_norm, logits (layer -1).
struct TraceEvent {
  int layer = -1;
  const char* name = "";
  const float* data = nullptr;
  int64_t rows = 0, cols = 0;
};
using TraceFn = std::function<void(const TraceEvent&)>;

// What differs between inference and training. project: outs[i] (R, N_i) = x W_i^T (+ bias_i) for the
// projections of one group sharing the input x ({q, k, v}, {o}, {gate, up}, {down}). attend: out (R, Q)
// = causal attention of the rows' queries over their sequences' keys and values (k, v: these rows').
class LayerExecutor {
 public:
  virtual ~LayerExecutor() = default;
  virtual void project(int layer, std::span<const Proj> group, const float* x, int64_t rows,
                       std::span<float* const> outs) = 0;
  virtual void attend(int layer, const float* q, const float* k, const float* v, int64_t rows, float* out) = 0;
  TraceFn trace;  // optional hook on every named value
};

// Runs layer `layer` over R rows: b.x goes from the layer's input to its output.
void decoder_layer(const ModelConfig& c, const LayerWeights& w, int layer, int64_t rows, const RowPositions& pos,
                   const LayerBuffers& b, LayerExecutor& ex);

// The embedding of ids into x (R, C) and, at the end, the final norm: the same for both paths.
void decoder_embed(const ModelConfig& c, const ModelWeights& w, const int32_t* ids, int64_t rows, float* x,
                   LayerExecutor& ex);
void decoder_final_norm(const ModelConfig& c, const ModelWeights& w, const float* x, int64_t rows, float* out,
                        float* rstd, LayerExecutor& ex);

}  // namespace dm
