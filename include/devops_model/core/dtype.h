// Element types of stored tensors and the scalar conversions between them.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dm {

// Block types are ggml's (GGUF) block formats, byte for byte, so a GGUF file's tensors are used in place
// and what we write llama.cpp reads: a row is whole blocks of dtype_block_size() elements, each block
// dtype_block_bytes() bytes. Q8_0/Q4_0/Q4_1/Q5_0/Q5_1: blocks of 32 with an f16 scale (and min);
// Q2_K..Q6_K: super-blocks of 256 with sub-block scales. Layouts and the scalar reference codecs:
// core/quant.h.
enum class DType : uint8_t {
  kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool,
  kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K,
};

inline constexpr int64_t kQ8Block = 32;  // elements per Q8_0 (and Q4_0 .. Q5_1) block
inline constexpr size_t kQ8_0BlockBytes = 2 + 32;  // f16 d, 32 int8 q
inline constexpr int64_t kQK_K = 256;    // elements per K-quant super-block

bool is_block_type(DType t);          // Q8_0 .. Q6_K
int64_t dtype_block_size(DType t);    // elements per block; 1 for element types
size_t dtype_block_bytes(DType t);    // bytes per block; dtype_size() for element types
size_t dtype_size(DType t);  // bytes per element; not for block types
// Bytes of n consecutive elements (n a multiple of the block for block types).
size_t dtype_bytes(DType t, int64_t n);
// Safetensors spelling: "F32", "BF16", ...; ggml's for block types ("Q8_0", "Q4_K").
const char* dtype_name(DType t);
// Parses the safetensors spelling; false if unknown (block types are not safetensors dtypes).
bool parse_dtype(std::string_view name, DType* out);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, NaN kept quiet: torch's float -> bfloat16.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Converts n stored elements of type t (F32/F16/BF16 or any block type) starting at src to floats. Block
// types: src at a block start, n a multiple of dtype_block_size(t); the values are ggml's to_float bits
// (dequantize_row in core/quant.h).
void convert_to_f32(DType t, const void* src, float* dst, size_t n);
// Quantizes n floats (a multiple of kQ8Block) into Q8_0 blocks: d = max|x| / 127, q = round(x / d)
// (quantize_row(DType::kQ8_0, ...), ggml's reference).
void quantize_q8_0(const float* src, void* dst, size_t n);

}  // namespace dm
