// Matrix multiply against stored weights, the engine's hot loop.
// Shapes: x (T, K) f32 row-major; W (N, K) F32/BF16/F16/Q8_0 row-major (Q8_0: K a multiple of 32) (PyTorch Linear
// layout); y (T, N) f32. Weights are converted to f32 in registers; accumulation is f32. One scalar reference kernel
// plus AVX2 and AVX-512 versions, chosen at run time from the CPU (DM_ISA=scalar|avx2|avx512 forces one).
#pragma once
#include <cstdint>
#include <span>

#include "devops_model/core/tensor.h"

namespace dm {

enum class Isa { kScalar, kAvx2, kAvx512 };

const char* isa_name(Isa isa);
Isa best_isa();    // what this CPU supports
Isa active_isa();  // what matmul() uses: best_isa() unless the DM_ISA environment variable says otherwise

// y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n]); multi-threaded over N. bias may be empty.
void matmul(const float* x, int64_t T, const TensorView& w, const TensorView& bias, float* y);

// Several products of the same x in one parallel region (q/k/v, gate/up): y_i = x W_i^T (+ bias_i).
struct MatmulTarget {
  TensorView w;     // (N_i, K)
  TensorView bias;  // (N_i) or empty
  float* y;         // (T, N_i)
};
void matmul_group(const float* x, int64_t T, std::span<const MatmulTarget> targets);

}  // namespace dm
