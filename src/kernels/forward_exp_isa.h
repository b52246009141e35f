// Internal to kernels/ (and the tests): the forward's exp-bound loops per ISA (attention's softmax row, SwiGLU),
// chosen by active_isa() as the matmuls are (kernels/matmul.h). The scalar twins call std::exp; the AVX-512
// loops use kernels/exp_avx512.h (within 2 ulp of std::exp).
#pragma once
#include <cstdint>

namespace dm::kernels {

// One attention row, in place: p[s] = exp(p[s] - max) for s < n; *max_out = max, returns the sum of the
// exps (summed in double: long contexts add many small terms).
double softmax_row_scalar(float* p, int64_t n, float* max_out);
double softmax_row_avx512(float* p, int64_t n, float* max_out);

// out[i] = silu(gate[i]) * up[i] = gate / (1 + exp(-gate)) * up, for i < n.
void swiglu_scalar(const float* gate, const float* up, int64_t n, float* out);
void swiglu_avx512(const float* gate, const float* up, int64_t n, float* out);

}  // namespace dm::kernels
