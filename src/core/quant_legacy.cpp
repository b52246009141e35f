// ggml's 32-value block types: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1. Every expression keeps ggml's operand order
// and float/int conversions (x*d with x an int, d*q + m, truncating casts after +0.5), because the goal is
// bit-identity with ggml's dequantize_row_* and quantize_row_*_ref, not just a faithful codec.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/quant_blocks.h"

namespace dm::quant {

namespace {
constexpr int kHalf = kQK / 2;  // values j and j + kHalf share byte j of qs

// The signed value of largest magnitude (the first one on ties); its sign picks the symmetric scale's sign
// so that this value maps to the most negative level exactly.
float signed_absmax(const float* x) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, float* mn, float* mx) {
  *mn = FLT_MAX;
  *mx = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < *mn) *mn = x[j];
    if (x[j] > *mx) *mx = x[j];
  }
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Q5_0 / Q5_1: the 5-bit level of value j (the 4 low bits from qs, the 5th from qh bit j).
int q5_level(const uint8_t* qs, uint32_t qh, int j) {
  const int lo = j < kHalf ? (qs[j] & 0x0F) : (qs[j - kHalf] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}
}  // namespace

void dequantize_q8_0(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const auto b = load_block<BlockQ8_0>(src, i);
    const float d = half(b.d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
  }
}

void dequantize_q4_0(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const auto b = load_block<BlockQ4_0>(src, i);
    const float d = half(b.d);
    for (int j = 0; j < kHalf; ++j) {
      y[j] = static_cast<float>((b.qs[j] & 0x0F) - 8) * d;
      y[j + kHalf] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const auto b = load_block<BlockQ4_1>(src, i);
    const float d = half(b.d), m = half(b.m);
    for (int j = 0; j < kHalf; ++j) {
      y[j] = static_cast<float>(b.qs[j] & 0x0F) * d + m;
      y[j + kHalf] = static_cast<float>(b.qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const auto b = load_block<BlockQ5_0>(src, i);
    const float d = half(b.d);
    const uint32_t qh = load_u32(b.qh);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q5_level(b.qs, qh, j) - 16) * d;
  }
}

void dequantize_q5_1(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const auto b = load_block<BlockQ5_1>(src, i);
    const float d = half(b.d), m = half(b.m);
    const uint32_t qh = load_u32(b.qh);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q5_level(b.qs, qh, j)) * d + m;
  }
}

// d = max|x| / 127 (f16), q = roundf(x / d): ties away from zero, as ggml.
void quantize_q8_0(const float* x, void* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ8_0 b;
    b.d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
    store_block(dst, i, b);
  }
}

// Symmetric 4-bit: the largest-magnitude value maps to level -8 (q = 0); q = min(15, trunc(x/d + 8.5)).
void quantize_q4_0(const float* x, void* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    const float d = signed_absmax(x) / -8;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ4_0 b;
    b.d = f32_to_f16(d);
    for (int j = 0; j < kHalf; ++j) {
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + kHalf] * id + 8.5f)));
      b.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store_block(dst, i, b);
  }
}

// Affine 4-bit: m = min, d = (max - min) / 15, q = min(15, trunc((x - m)/d + 0.5)).
void quantize_q4_1(const float* x, void* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float mn, mx;
    min_max(x, &mn, &mx);
    const float d = (mx - mn) / 15;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ4_1 b;
    b.d = f32_to_f16(d);
    b.m = f32_to_f16(mn);
    for (int j = 0; j < kHalf; ++j) {
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - mn) * id + 0.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + kHalf] - mn) * id + 0.5f)));
      b.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store_block(dst, i, b);
  }
}

namespace {
// Packs 32 5-bit levels: low nibbles into qs as Q4_0 does, the 5th bits into the u32 qh.
void pack_q5(const uint8_t* lv, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < kHalf; ++j) {
    qs[j] = static_cast<uint8_t>((lv[j] & 0x0F) | ((lv[j + kHalf] & 0x0F) << 4));
    qh |= static_cast<uint32_t>((lv[j] & 0x10u) >> 4) << j;
    qh |= static_cast<uint32_t>((lv[j + kHalf] & 0x10u) >> 4) << (j + kHalf);
  }
  std::memcpy(qh_bytes, &qh, 4);
}
}  // namespace

// Symmetric 5-bit: as Q4_0 with 16 levels each side: q = min(31, trunc(x/d + 16.5)).
void quantize_q5_0(const float* x, void* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    const float d = signed_absmax(x) / -16;
    const float id = d != 0.f ? 1.f / d : 0.f;
    uint8_t lv[kQK];
    for (int j = 0; j < kQK; ++j)
      lv[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f))));
    BlockQ5_0 b;
    b.d = f32_to_f16(d);
    pack_q5(lv, b.qs, b.qh);
    store_block(dst, i, b);
  }
}

// Affine 5-bit: as Q4_1 with d = (max - min) / 31; q = trunc((x - m)/d + 0.5) (ggml clamps nothing here).
void quantize_q5_1(const float* x, void* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float mn, mx;
    min_max(x, &mn, &mx);
    const float d = (mx - mn) / 31;
    const float id = d != 0.f ? 1.f / d : 0.f;
    uint8_t lv[kQK];
    for (int j = 0; j < kQK; ++j) lv[j] = static_cast<uint8_t>(static_cast<int>((x[j] - mn) * id + 0.5f));
    BlockQ5_1 b;
    b.d = f32_to_f16(d);
    b.m = f32_to_f16(mn);
    pack_q5(lv, b.qs, b.qh);
    store_block(dst, i, b);
  }
}

}  // namespace dm::quant
