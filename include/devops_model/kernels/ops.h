// Element-wise and per-row operations of the decoder (forward). Shape legend: T tokens, C channels,
// H query heads, KV key/value heads, D head dim, S cached positions. All activations are f32.
#pragma once
#include <cstdint>

#include "devops_model/core/tensor.h"

namespace dm {

// out[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * w   (x, out: (T, C); w: (C) any float dtype; may alias)
void rmsnorm(const float* x, int64_t T, int64_t C, const TensorView& w, float eps, float* out);

// out[t] = embedding row ids[t]   (table: (V, C))
void embed_rows(const TensorView& table, const int32_t* ids, int64_t T, float* out);

// a[i] = silu(gate[i]) * up[i], in place on gate   (n elements)
void silu_mul(float* gate, const float* up, int64_t n);

// In-place softmax of x[0..n)
void softmax(float* x, int64_t n);

// Rotary embedding, rotate-half layout, on the first rot_dim dims of each head.
// x: (T, heads, D) in place; positions[t] absolute; inv_freq: (rot_dim/2).
void rope_rotate_half(float* x, int64_t T, int64_t heads, int64_t D, int64_t rot_dim, const int32_t* positions,
                      const double* inv_freq);

// Causal attention of T new queries against the cache holding positions [0, pos0 + T).
// q: (T, H, D); k_cache/v_cache: (S, KV, D) with row stride kv_stride floats; out: (T, H, D).
// Query t sits at position pos0 + t and sees keys 0..pos0+t. Multi-threaded over (t, h).
void attention(const float* q, int64_t T, int64_t H, int64_t KV, int64_t D, const float* k_cache,
               const float* v_cache, int64_t kv_stride, int64_t pos0, float scale, float* out);

}  // namespace dm
