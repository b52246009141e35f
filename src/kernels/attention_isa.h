// Internal to kernels/ (and the tests): attention's inner loops per ISA, chosen by active_isa() as the
// matmuls are (kernels/matmul.h). Shape legend: q (D), k/v rows of D floats at stride kv_stride, p (n), o (D).
#pragma once
#include <cstdint>

namespace dm::kernels {

// p[s] = scale * q . k[s] for s < n.
void attention_scores_scalar(const float* q, const float* k, int64_t kv_stride, int64_t D, int64_t n, float scale,
                             float* p);
void attention_scores_avx512(const float* q, const float* k, int64_t kv_stride, int64_t D, int64_t n, float scale,
                             float* p);

// o = sum_s (p[s] * weight) * v[s] for s < n.
void attention_accumulate_scalar(const float* p, float weight, const float* v, int64_t kv_stride, int64_t D, int64_t n,
                                 float* o);
void attention_accumulate_avx512(const float* p, float weight, const float* v, int64_t kv_stride, int64_t D, int64_t n,
                                 float* o);

// A block of `rows` queries sharing a KV head, query row i seeing keys [0, n0 + i * step) (step 1: a head's
// consecutive queries, causal; step 0: the query heads of a group at one position); the same bits as the one-query
// functions above give each row (those are the block path's twins, with their scalar twins).
// S[i][s] = scale * q_i . k_s for s < n0 + i * step (entries past a row's keys, up to the block's last key, may be
// written too, and are not read).
void attention_block_scores_avx512(const float* q, int64_t ldq, int64_t rows, const float* k, int64_t kv_stride,
                                   int64_t D, int64_t n0, int64_t step, float scale, float* S, int64_t lds);
// P[i][s] *= weight[i] for s < n0 + i * step, then o_i = sum over those s of P[i][s] * v_s (P past a row's keys is
// not read).
void attention_block_values_avx512(float* P, int64_t ldp, int64_t rows, const float* weight, const float* v,
                                   int64_t kv_stride, int64_t D, int64_t n0, int64_t step, float* o, int64_t ldo);

}  // namespace dm::kernels
