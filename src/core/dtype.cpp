#include "devops_model/core/dtype.h"

#include "devops_model/core/error.h"
#include "devops_model/core/quant.h"

namespace dm {

namespace {
struct DTypeInfo {
  DType type;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kInfo[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},   {DType::kBF16, "BF16", 2}, {DType::kF64, "F64", 8},
    {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},   {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1},
};
}  // namespace

namespace {
struct BlockInfo {
  DType type;
  const char* name;
  int64_t block;
  size_t bytes;
};
// ggml's block sizes (ggml-common.h): d/m are f16.
constexpr BlockInfo kBlocks[] = {
    {DType::kQ8_0, "Q8_0", 32, 2 + 32},          {DType::kQ4_0, "Q4_0", 32, 2 + 16},
    {DType::kQ4_1, "Q4_1", 32, 2 + 2 + 16},      {DType::kQ5_0, "Q5_0", 32, 2 + 4 + 16},
    {DType::kQ5_1, "Q5_1", 32, 2 + 2 + 4 + 16},  {DType::kQ2_K, "Q2_K", 256, 16 + 64 + 2 + 2},
    {DType::kQ3_K, "Q3_K", 256, 32 + 64 + 12 + 2}, {DType::kQ4_K, "Q4_K", 256, 2 + 2 + 12 + 128},
    {DType::kQ5_K, "Q5_K", 256, 2 + 2 + 12 + 32 + 128}, {DType::kQ6_K, "Q6_K", 256, 128 + 64 + 16 + 2},
};
const BlockInfo* block_info(DType t) {
  for (const auto& b : kBlocks)
    if (b.type == t) return &b;
  return nullptr;
}
}  // namespace

bool is_block_type(DType t) { return block_info(t) != nullptr; }
int64_t dtype_block_size(DType t) { return is_block_type(t) ? block_info(t)->block : 1; }
size_t dtype_block_bytes(DType t) { return is_block_type(t) ? block_info(t)->bytes : dtype_size(t); }

size_t dtype_size(DType t) {
  DM_CHECK(!is_block_type(t), dtype_name(t), " has no per-element size");
  return kInfo[static_cast<int>(t)].size;
}

size_t dtype_bytes(DType t, int64_t n) {
  const BlockInfo* b = block_info(t);
  if (!b) return static_cast<size_t>(n) * kInfo[static_cast<int>(t)].size;
  DM_CHECK(n % b->block == 0, b->name, ": ", n, " elements is not a whole number of blocks");
  return static_cast<size_t>(n / b->block) * b->bytes;
}

const char* dtype_name(DType t) {
  const BlockInfo* b = block_info(t);
  return b ? b->name : kInfo[static_cast<int>(t)].name;
}

bool parse_dtype(std::string_view name, DType* out) {
  for (const auto& i : kInfo) {
    if (name == i.name) {
      *out = i.type;
      return true;
    }
  }
  return false;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        mant <<= 1;
        ++e;
      } while ((mant & 0x400u) == 0);
      u = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((u >> 23) & 0xffu) - 127 + 15;
  uint32_t mant = u & 0x7fffffu;
  if (((u >> 23) & 0xffu) == 0xffu) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: correct
  return static_cast<uint16_t>(h);
}

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, n * 4); return;
    case DType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    default:
      if (quantizable(t)) {
        dequantize_row(t, src, dst, static_cast<int64_t>(n));
        return;
      }
      fail(ErrorKind::kUnsupported, "cannot convert ", dtype_name(t), " to F32");
  }
}

void quantize_q8_0(const float* src, void* dst, size_t n) {
  quantize_row(DType::kQ8_0, src, dst, static_cast<int64_t>(n));
}

}  // namespace dm
