// Scalar reference codecs for ggml's (GGUF) block types: dequantization that gives the same bits as
// ggml's to_float (and gguf-py's gguf.quants.dequantize), and quantization that gives the same bytes as
// llama-quantize without an importance matrix (ggml's quantize_row_<type>_ref, scale searches included).
// These are the plain-loop twins that fast kernels are tested against; they are not fast.
//
// Block layouts (little-endian; d, m, dmin are IEEE f16; a row is whole blocks):
//   Q8_0  32 values,  34 bytes: d, int8 q[32];                         x = d*q
//   Q4_0  32 values,  18 bytes: d, u8 qs[16] (4-bit q, value j in the low nibble of byte j, value j+16 in
//                                the high nibble);                     x = d*(q-8)
//   Q4_1  32 values,  20 bytes: d, m, u8 qs[16] (as Q4_0);             x = d*q + m
//   Q5_0  32 values,  22 bytes: d, u32 qh (bit j = 5th bit of value j), u8 qs[16] (low 4 bits, as Q4_0);
//                                                                      x = d*(q-16)
//   Q5_1  32 values,  24 bytes: d, m, u32 qh, u8 qs[16] (as Q5_0);     x = d*q + m
//   K-quants: super-blocks of 256 values in sub-blocks of 16 or 32, each sub-block with its own scale
//   (and min) quantized against the super-block's f16 d (and dmin):
//   Q2_K  84 bytes: u8 scales[16] (low nibble: 4-bit scale, high: 4-bit min, one per 16 values),
//                   u8 qs[64] (2-bit q), d, dmin;                      x = d*sc*q - dmin*mn
//   Q3_K 110 bytes: u8 hmask[32] (3rd bit of q), u8 qs[64] (low 2 bits), u8 scales[12] (16 6-bit scales,
//                   offset 32), d;                                     x = d*(sc-32)*(q-4)
//   Q4_K 144 bytes: d, dmin, u8 scales[12] (8 6-bit scales and 8 6-bit mins, one per 32 values),
//                   u8 qs[128] (4-bit q);                              x = d*sc*q - dmin*mn
//   Q5_K 176 bytes: d, dmin, u8 scales[12] (as Q4_K), u8 qh[32] (5th bit), u8 qs[128] (low 4 bits);
//                                                                      x = d*sc*q - dmin*mn
//   Q6_K 210 bytes: u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), int8 scales[16] (one per 16
//                   values), d;                                        x = d*sc*(q-32)
#pragma once
#include <cstdint>

#include "devops_model/core/dtype.h"

namespace dm {

// True for the block types both functions below handle (Q8_0, Q4_0 .. Q5_1, Q2_K .. Q6_K).
bool quantizable(DType t);

// Decodes n values (a multiple of dtype_block_size(t)) from the blocks at src into dst; bit-identical to
// ggml's dequantize_row_<type>. DM_CHECK on a partial block or a type that is not a block type.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// Encodes n values (a multiple of dtype_block_size(t)) into dtype_bytes(t, n) bytes at dst; byte-identical
// to ggml's quantize_row_<type>_ref (what llama-quantize writes when given no imatrix). DM_CHECK as above.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace dm
