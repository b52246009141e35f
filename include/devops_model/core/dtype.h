// Element types of stored tensors and the scalar conversions between them.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dm {

// kQ8_0 is ours, never read from a file: weights quantized at load (`--dtype q8_0`) in blocks of 32
// along a row, each block = f32 scale d then 32 int8 q (36 bytes), value = d * q. llama.cpp's Q8_0 idea
// with an f32 scale (no half conversion in the hot loop).
enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool, kQ8_0 };

inline constexpr int64_t kQ8Block = 32;
inline constexpr size_t kQ8BlockBytes = 4 + kQ8Block;

size_t dtype_size(DType t);  // bytes per element; not for block types (kQ8_0)
// Bytes of n consecutive elements (n a multiple of the block for kQ8_0).
size_t dtype_bytes(DType t, int64_t n);
// Safetensors spelling: "F32", "BF16", ... ("Q8_0" for ours).
const char* dtype_name(DType t);
// Parses the safetensors spelling; false if unknown (Q8_0 is not a file dtype).
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

// Converts n stored elements of type t (F32/F16/BF16/Q8_0) starting at src to floats (Q8_0: src at a
// block start, n a multiple of the block).
void convert_to_f32(DType t, const void* src, float* dst, size_t n);
// Quantizes n floats (a multiple of kQ8Block) into Q8_0 blocks: d = max|x| / 127, q = round(x / d).
void quantize_q8_0(const float* src, void* dst, size_t n);

}  // namespace dm
