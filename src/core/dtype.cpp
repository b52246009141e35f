#include "devops_model/core/dtype.h"

#include <algorithm>
#include <cmath>

#include "devops_model/core/error.h"

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

size_t dtype_size(DType t) {
  DM_CHECK(t != DType::kQ8_0, "Q8_0 has no per-element size");
  return kInfo[static_cast<int>(t)].size;
}

size_t dtype_bytes(DType t, int64_t n) {
  if (t != DType::kQ8_0) return static_cast<size_t>(n) * kInfo[static_cast<int>(t)].size;
  DM_CHECK(n % kQ8Block == 0, "Q8_0: ", n, " elements is not a whole number of blocks");
  return static_cast<size_t>(n / kQ8Block) * kQ8BlockBytes;
}

const char* dtype_name(DType t) { return t == DType::kQ8_0 ? "Q8_0" : kInfo[static_cast<int>(t)].name; }

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
    case DType::kQ8_0: {
      DM_CHECK(n % kQ8Block == 0, "Q8_0: partial block");
      const auto* b = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; i += kQ8Block, b += kQ8BlockBytes) {
        float d;
        std::memcpy(&d, b, 4);
        const auto* q = reinterpret_cast<const int8_t*>(b + 4);
        for (int64_t j = 0; j < kQ8Block; ++j) dst[i + static_cast<size_t>(j)] = d * static_cast<float>(q[j]);
      }
      return;
    }
    default: fail(ErrorKind::kUnsupported, "cannot convert ", dtype_name(t), " to F32");
  }
}

void quantize_q8_0(const float* src, void* dst, size_t n) {
  DM_CHECK(n % kQ8Block == 0, "Q8_0: partial block");
  auto* b = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n; i += kQ8Block, b += kQ8BlockBytes) {
    float amax = 0.f;
    for (int64_t j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(src[i + static_cast<size_t>(j)]));
    const float d = amax / 127.f;
    std::memcpy(b, &d, 4);
    auto* q = reinterpret_cast<int8_t*>(b + 4);
    for (int64_t j = 0; j < kQ8Block; ++j)
      q[j] = d == 0.f ? int8_t{0} : static_cast<int8_t>(std::lround(src[i + static_cast<size_t>(j)] / d));
  }
}

}  // namespace dm
