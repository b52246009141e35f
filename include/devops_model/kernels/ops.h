// The decoder's forward operations: one implementation of each, used by inference and by training (which
// asks for the extra values its backward reads: rstd, log-sum-exp). Shape legend: T rows (tokens), C
// channels, H query heads, KV key/value heads, D head dim, S cached positions. Activations are f32.
#pragma once
#include <cstdint>
#include <vector>

#include "devops_model/core/tensor.h"

namespace dm {

// out[t] = w * (x[t] * rstd[t]), rstd[t] = 1 / sqrt(mean(x[t]^2) + eps), the mean summed in double.
// x, out: (T, C), may alias; w: (C), any float dtype; rstd: (T) written when not null (for the backward).
void rmsnorm(const float* x, int64_t T, int64_t C, const TensorView& w, float eps, float* out, float* rstd = nullptr);

// out[t] = embedding row ids[t]   (table: (V, C), any float dtype). Error(kInvalidArgument) on an id
// outside [0, V).
void embed_rows(const TensorView& table, const int32_t* ids, int64_t T, float* out);

// SwiGLU: out[i] = silu(gate[i]) * up[i]   (n elements; out may alias gate)
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax of x[0..n)
void softmax(float* x, int64_t n);

// RoPE inverse frequencies (rot_dim / 2) as the reference forms them: base ** (2j / rot_dim) with the
// exponent in f32. ntk_alpha != 1 scales the base (Qwen1 dynamic NTK): base * alpha^(rot_dim / (rot_dim - 2)).
std::vector<double> rope_inv_freq(int64_t rot_dim, double theta, double ntk_alpha = 1.0);

// Rotary embedding, rotate-half layout, on the first rot_dim dims of each head.
// x: (T, heads, D) in place; positions[t] absolute; inv_freq: (rot_dim/2).
void rope_rotate_half(float* x, int64_t T, int64_t heads, int64_t D, int64_t rot_dim, const int32_t* positions,
                      const double* inv_freq);

// Causal attention of T new queries against keys/values of positions [0, pos0 + T).
// q: (T, H, D); k, v: (S, KV, D) with row stride kv_stride floats; out: (T, H, D).
// Query t sits at position pos0 + t and sees keys 0..pos0+t; query head h reads kv head h / (H / KV).
// lse: (H, T) log-sum-exp of each query's scaled scores, written when not null (the training backward
// recomputes probabilities from it). Multi-threaded over (t, h).
void attention(const float* q, int64_t T, int64_t H, int64_t KV, int64_t D, const float* k, const float* v,
               int64_t kv_stride, int64_t pos0, float scale, float* out, float* lse = nullptr);

}  // namespace dm
