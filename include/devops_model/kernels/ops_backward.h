// Training kernels: the hand-written backward passes (their forwards are kernels/ops.h, shared with inference)
// (llm.c style). Shape legend: N rows (tokens, B*T), K input features, M output features, C channels,
// B batch, T sequence length, H query heads, KV key/value heads, D head dim, V vocab.
// Convention: every gradient output ACCUMULATES (+=); callers zero buffers once per step.
// Threading: static partitions with a fixed reduction order, so results are bit-reproducible for a given
// thread count (dm::set_num_threads).
#pragma once
#include <cstdint>

#include "devops_model/core/tensor.h"

namespace dm {

// C[m, j] += sum_p A(m, p) * B[p, j] for m < Mr, j < Nc, p < P.
// A(m, p) = a[m * a_ms + p * a_ps] (any strides, so A may be a transposed view); B row-major (P, Nc) with row
// stride ldb; C row-major with row stride ldc. Multi-threaded over rows of C; SIMD chosen at run time.
void gemm_acc(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c, int64_t ldc,
              int64_t Mr, int64_t Nc, int64_t P);

// dst (cols, rows) = src (rows, cols)^T, in parallel; 8 x 8 blocks in AVX2 registers where DM_ISA allows,
// element by element otherwise (the twin; the tests compare them).
void transpose(const float* src, int64_t rows, int64_t cols, float* dst);

// gemm_acc with A and B rounded to bf16 (nearest even) and f32 sums: the matmuls of mixed-precision training.
// AVX512-BF16 CPUs use vdpbf16ps on packed bf16 pairs; others (and DM_ISA below avx512) run the twin,
// gemm_acc_bf16_twin: gemm_acc over rounded f32 copies (the same products, summed in another order).
void gemm_acc_bf16(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c, int64_t ldc,
                   int64_t Mr, int64_t Nc, int64_t P);
void gemm_acc_bf16_twin(const float* a, int64_t a_ms, int64_t a_ps, const float* b, int64_t ldb, float* c,
                        int64_t ldc, int64_t Mr, int64_t Nc, int64_t P);

// gemm_acc_bf16 with B given as its transpose: C (Mr, Nc) += A (Mr, P; rows, leading dimension lda) . W^T,
// W (Nc, P) row-major: the bits of gemm_acc_bf16 over a transposed copy, without the copy (a linear layer's
// forward). Only where gemm_bf16_native().
void gemm_acc_bf16_bt(const float* a, int64_t lda, const float* w, int64_t ldw, float* c, int64_t ldc, int64_t Mr,
                      int64_t Nc, int64_t P);
// Whether gemm_acc_bf16 runs on vdpbf16ps here (AVX512-BF16 and DM_ISA at avx512 or above), not the twin.
bool gemm_bf16_native();

// What a linear layer's products take: f32 operands, or operands rounded to bf16 (--bf16) with f32 sums.
enum class GemmPrecision { kF32, kBF16 };

// Linear layer y = x W^T + bias, forward.  x (N, K), w (M, K), bias (M) or null, y (N, M) overwritten.
void linear_forward(const float* x, const float* w, const float* bias, int64_t N, int64_t K, int64_t M, float* y,
                    GemmPrecision precision = GemmPrecision::kF32);
// Backward of the linear layer. dy (N, M). dx (N, K) += dy W; dw (M, K) += dy^T x; dbias (M) += sum_n dy.
// Any of dx, dw, dbias may be null (frozen parameters / inputs that need no gradient).
void linear_backward(const float* dy, const float* x, const float* w, int64_t N, int64_t K, int64_t M, float* dx,
                     float* dw, float* dbias, GemmPrecision precision = GemmPrecision::kF32);

// dx (N, K) += dy (N, M) . W (M, K) for a frozen W of any dtype (f32, f16, bf16, ggml block types): the rows
// are converted to f32 a tile at a time (to dequantize_row's values), so no f32 copy of W ever exists whole.
void linear_backward_input(const float* dy, const TensorView& w, int64_t N, float* dx);

// RMSNorm backward (forward: ops.h rmsnorm with rstd). dx (N, C) += ...; dw (C) += sum_n dout * x * rstd
// (dw may be null). x is the forward INPUT.
void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rstd, int64_t N, int64_t C,
                      float* dx, float* dw);

// SwiGLU backward (forward: ops.h swiglu).
void swiglu_backward(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup);

// Embedding backward (forward: ops.h embed_rows): dtable (V, C) += dout rows (deterministic order).
void embedding_backward(const float* dout, const int32_t* ids, int64_t N, int64_t C, float* dtable);

// Rotate-half RoPE backward: x (N, heads, D) holds d(out) and becomes d(in) (rotation by -angle), with the
// same f32 angles as dm::rope_rotate_half.
void rope_rotate_half_backward(float* dx, int64_t N, int64_t heads, int64_t D, int64_t rot_dim,
                               const int32_t* positions, const double* inv_freq);

// Causal GQA self-attention backward over B independent sequences of T tokens (positions 0..T-1 each).
// q (B, T, H, D); k, v (B, T, KV, D); out (B, T, H, D); lse (B, H, T) as ops.h attention writes it per
// sequence (so the backward recomputes probabilities instead of storing (B, H, T, T)).
// dq (B, T, H, D), dk, dv (B, T, KV, D) += gradients. Parallel over (b, kv head): each worker owns its rows.
// Blocks of query rows through the training GEMM (gemm_acc); attention_backward_reference is its twin, the
// same math one element at a time (the tests compare them).
void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t D, float scale,
                        float* dq, float* dk, float* dv);
void attention_backward_reference(const float* dout, const float* q, const float* k, const float* v,
                                  const float* out, const float* lse, int64_t B, int64_t T, int64_t H, int64_t KV,
                                  int64_t D, float scale, float* dq, float* dk, float* dv);

// Cross-entropy over rows of logits (N, V) against targets (N), target < 0 = ignored.
// Returns the SUM of -log p(target) over non-ignored rows; logits are overwritten IN PLACE by
// d(loss * grad_scale)/d(logits) (zero rows for ignored targets). grad_scale is typically 1/count.
double cross_entropy_forward_backward(float* logits, const int32_t* targets, int64_t N, int64_t V, float grad_scale);

}  // namespace dm
