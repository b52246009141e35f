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

}  // namespace dm::kernels
