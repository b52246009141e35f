// Matrix multiply against stored weights, the engine's hot loop.
// Shapes: x (T, K) f32 row-major; W (N, K) row-major (PyTorch Linear layout), F32/BF16/F16 or any ggml block type
// (Q8_0, Q4_0 .. Q5_1, Q2_K .. Q6_K; K whole blocks: a multiple of 32, or 256 for the K-quants); y (T, N) f32.
// Weights are converted to f32 in registers (block types: to dequantize_row's exact values, core/quant.h);
// accumulation is f32. One scalar reference kernel plus AVX2 and AVX-512 versions, chosen at run time from the CPU
// (DM_ISA=scalar|avx2|avx512|avx512vnni forces one). With AVX-512 VNNI, block-type weights times 8 or more tokens
// (prefill) take the integer path instead: the activations rounded to 8-bit blocks as llama.cpp rounds them for
// its Q8_0 dot products (d = f16(amax/127) per 32 elements), products summed exactly in int32, scales applied per
// sub-block.
#pragma once
#include <cstdint>
#include <span>

#include "devops_model/core/tensor.h"

namespace dm {

enum class Isa { kScalar, kAvx2, kAvx512, kAvx512Vnni };

const char* isa_name(Isa isa);
Isa best_isa();    // what this CPU supports
Isa active_isa();  // what matmul() uses: best_isa() unless the DM_ISA environment variable says otherwise

// BF16 weights times 32 or more tokens (prefill) with the activations rounded to bf16 (vdpbf16ps, AVX512-BF16):
// how llama.cpp multiplies bf16 weights, twice the f32 FMA's rate, but the logits move (0.16 on the tiny
// fixtures' logits of std ~4, past the golden tests' 1e-3), so it is off unless asked for (--bf16-activations).
// Process-wide, like active_isa(); Error(kUnsupported) where the CPU has no AVX512-BF16.
void set_bf16_activations(bool on);
bool bf16_activations();

// What the activations may become: kFastest lets block-type weights take the integer path (8-bit activations,
// inference); kF32 keeps them f32 on every CPU (training, whose gradients are those of the f32 product).
enum class Activations { kFastest, kF32 };

// y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n]); multi-threaded over N. bias may be empty.
void matmul(const float* x, int64_t T, const TensorView& w, const TensorView& bias, float* y,
            Activations acts = Activations::kFastest);

// Several products of the same x in one parallel region (q/k/v, gate/up): y_i = x W_i^T (+ bias_i).
struct MatmulTarget {
  TensorView w;     // (N_i, K)
  TensorView bias;  // (N_i) or empty
  float* y;         // (T, N_i)
};
void matmul_group(const float* x, int64_t T, std::span<const MatmulTarget> targets,
                  Activations acts = Activations::kFastest);

}  // namespace dm
