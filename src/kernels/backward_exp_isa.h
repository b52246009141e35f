// Internal to kernels/ (and the tests): the training backward's exp-bound loops per ISA, chosen by
// active_isa() as the matmuls are (kernels/matmul.h). The scalar twins call std::exp; the AVX-512 loops
// evaluate exp as a degree-6 polynomial on the reduced argument (within 2 ulp of std::exp over the float
// range; the tests compare them).
#pragma once
#include <cstdint>

namespace dm::kernels {

// SwiGLU backward over elements [0, n): s = sigmoid(gate), dup += dout * gate * s,
// dgate += dout * up * s * (1 + gate * (1 - s)).
void swiglu_backward_scalar(const float* dout, const float* gate, const float* up, int64_t n, float* dgate,
                            float* dup);
void swiglu_backward_avx512(const float* dout, const float* gate, const float* up, int64_t n, float* dgate,
                            float* dup);

// One query row of attention's backward over keys [0, n): p = exp(s * scale - lse) for keys <= last (else 0),
// s = p, dp = p * (dp - delta) * scale.
void softmax_grad_row_scalar(float* s, float* dp, int64_t n, int64_t last, float scale, float lse, float delta);
void softmax_grad_row_avx512(float* s, float* dp, int64_t n, int64_t last, float scale, float lse, float delta);

}  // namespace dm::kernels
