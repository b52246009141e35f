// Operations of the bidirectional (BERT) encoder, forward only. Shape legend: B sequences, L padded
// length, C channels, H heads, D head dim. All activations are f32, row-major.
#pragma once
#include <cstdint>

namespace dm {

// out[t] = (x[t] - mean) / sqrt(var + eps) * w + b over C channels (biased variance, as torch's
// LayerNorm); x, out: (T, C), may alias; w, b: (C) f32. Multi-threaded over T.
void layernorm(const float* x, int64_t T, int64_t C, const float* w, const float* b, float eps, float* out);

// In place over n elements: exact GELU 0.5 x (1 + erf(x / sqrt 2)) (HF "gelu"), or the tanh
// approximation (HF "gelu_new" / "gelu_pytorch_tanh").
void gelu_erf(float* x, int64_t n);
void gelu_tanh(float* x, int64_t n);

// Bidirectional multi-head attention with a key padding mask.
// q, k, v: (B, L, H, D) (the outputs of the Q/K/V projections, rows of C = H*D); key_mask: (B, L),
// nonzero = real token; out: (B, L, H, D). Every query (padding rows too) attends to the real keys of its
// sequence: softmax(q.k * scale + (mask ? 0 : float-min)), as HF's extended attention mask does.
// Multi-threaded over (b, h, query).
void encoder_attention(const float* q, const float* k, const float* v, const int32_t* key_mask, int64_t B, int64_t L,
                       int64_t H, int64_t D, float scale, float* out);

}  // namespace dm
