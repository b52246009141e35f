// Internal to kernels/ (and the tests and benches that compare ISAs): the per-ISA entry points behind
// matmul() (devops_model/kernels/matmul.h) and the switch that picks one for the whole process.
#pragma once
#include <cstdint>

#include "devops_model/core/dtype.h"
#include "devops_model/kernels/matmul.h"

namespace dm {

// Makes matmul() use `isa` from now on (process-wide, not synchronised with running matmuls): tests and
// benches compare ISAs in one process. Users force one with DM_ISA=scalar|avx2|avx512|avx512vnni instead.
void set_active_isa(Isa);

// Single-threaded kernel over weight rows [n0, n1): y[t, n] for t < T; y has row stride ldy.
void matmul_rows(Isa isa, const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1,
                 float* y, int64_t ldy);

// Whether matmul() multiplies T tokens by (N, K) weights of type wt on the integer path (quantized
// activations, AVX-512 VNNI): every block type from 8 tokens on (kTokenLanesMinTokens); fewer tokens for the
// types with a few-token kernel (every block type) where K is a multiple of 64.
bool uses_int8_path(Isa isa, DType wt, int64_t T, int64_t K);

// Whether matmul() multiplies T tokens by (N, K) BF16 weights with the activations rounded to bf16 (vdpbf16ps,
// gemm_packed_bf16_avx512.cpp): once set_bf16_activations(true), at the integer path's ISA level (DM_ISA=avx512
// keeps f32 activations), from kPackedMinTokens tokens on (twice the f32 FMA's rate pays for the packing even
// where the activations fit L2), K even.
bool uses_bf16_pairs_path(Isa isa, DType wt, int64_t T, int64_t K);

// The types matmul_int8_decode_avx512.cpp has a loader for (its dispatch names the same ones).
constexpr bool has_few_token_int8_kernel(DType wt) {
  switch (wt) {
    case DType::kQ8_0: case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1:
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K: return true;
    default: return false;
  }
}

// Decode kernels stream a few weight rows at once, more than the hardware prefetcher follows: each row is
// prefetched this far ahead (BM_MatmulBlock and bench decode: best of 0.5, 2, 4, 8, 16 KiB on Zen 5).
inline constexpr int64_t kRowPrefetchBytes = 16384;

// AVX-512 multiplies F32/BF16/F16 weights by the packed GEMM (gemm_packed_avx512.cpp) from this many tokens on,
// once the tokens' activations outgrow L2 (the dot-product tiles reread them for every tile of rows; below,
// they are as fast and pack nothing): past 512 KiB for f32 weights, past 1 MiB for bf16/f16 ones, whose
// widening makes packing dearer. BM_Matmul on Zen 5, 2 threads, GFLOP/s dot tiles -> packed: f32 512 x 4864 x
// 896 ~350 -> ~420, 128 x 896 x 4864 (x 2.5 MiB) ~245 -> ~400, 128 x 8960 x 1536 (x 768 KiB) ~313 -> ~375;
// bf16 128 x 8960 x 1536 ~445 -> ~365 (so the dot tiles keep it).
inline constexpr int64_t kPackedMinTokens = 32;
inline constexpr int64_t kPackedMinActBytes = int64_t{512} << 10;
inline bool use_packed_gemm(int64_t T, int64_t K, DType wt) {
  return T >= kPackedMinTokens && T * K * 4 > (wt == DType::kF32 ? kPackedMinActBytes : 2 * kPackedMinActBytes);
}

namespace kernels {
struct QuantizedActs;
// The integer path over rows [n0, n1) (block types only): y[t, n] for the quantized activations' T tokens,
// by the kernel for the activations' layout (the few-token one for the row layout).
void matmul_rows_int8_avx512(const QuantizedActs& a, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                             int64_t ldy);
void matmul_rows_int8_few_avx512(const QuantizedActs& a, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                                 int64_t ldy);
// The bf16 path: x (T, K) rounded to bf16 pairs xb (T, K / 2), low half the even element, n = T * K even;
// rows [n0, n1) of y = xb W^T over BF16 weights. The twin: the f32 scalar kernel over the pairs widened back.
void round_acts_bf16_pairs_avx512(const float* x, int64_t n, uint32_t* dst);
void matmul_rows_bf16_pairs_avx512(const uint32_t* xb, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1,
                                   float* y, int64_t ldy);
void matmul_rows_bf16_pairs_scalar(const uint32_t* xb, int64_t T, int64_t K, const void* w, int64_t n0, int64_t n1,
                                   float* y, int64_t ldy);
// Its scalar twin: the f32 scalar kernel over the dequantized activations (same values, other rounding).
void matmul_rows_int8_scalar(const QuantizedActs& a, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                             int64_t ldy);
}  // namespace kernels

namespace kernels {
// Per-ISA implementations (matmul_<isa>.cpp), same contract as matmul_rows.
void matmul_rows_scalar(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                        int64_t ldy);
void matmul_rows_avx2(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                      int64_t ldy);
void matmul_rows_avx512(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                        int64_t ldy);
// The packed GEMM (F32/BF16/F16 weights; other types go to the scalar kernel), any T; matmul_rows_avx512 takes
// it where use_packed_gemm(T, K, wt).
void matmul_rows_packed_avx512(const float* x, int64_t T, int64_t K, DType wt, const void* w, int64_t n0, int64_t n1,
                               float* y, int64_t ldy);

// ggml block type weights decoded by each SIMD ISA's decoder (block_decode.h), n a multiple of the block:
// the values the matmul tiles use, bit-identical to dequantize_row (core/quant.h). For the tests.
void decode_row_avx2(DType wt, const void* src, float* dst, int64_t n);
void decode_row_avx512(DType wt, const void* src, float* dst, int64_t n);
}  // namespace kernels

}  // namespace dm
