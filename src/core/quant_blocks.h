// Internal: ggml's block structs (ggml-common.h's layouts, field for field), the per-type row codecs behind
// core/quant.h's dispatch, and the f16 helpers they share. Blocks are read and written through memcpy into
// these structs, so a caller's pointer need not be aligned.
#pragma once
#include <cstdint>
#include <cstring>

#include "devops_model/core/dtype.h"

namespace dm::quant {

inline constexpr int kQK = 32;           // values per Q4_0 .. Q8_0 block
inline constexpr int kQKK = 256;         // values per K-quant super-block
inline constexpr int kKScaleBytes = 12;  // Q3_K's 16 6-bit scales; Q4_K/Q5_K's 8 6-bit scales + 8 6-bit mins

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];  // value j: low nibble of qs[j]; value j+16: high nibble
};
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // u32, bit j = 5th bit of value j
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ2_K {
  uint8_t scales[kQKK / 16];  // per 16 values: low nibble scale, high nibble min
  uint8_t qs[kQKK / 4];       // 2-bit q: 128-value halves, byte l holds values l, l+32, l+64, l+96
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[kQKK / 8];  // value p: bit p/32 of hmask[p%32] (set = q >= 4)
  uint8_t qs[kQKK / 4];     // low 2 bits, as Q2_K
  uint8_t scales[kKScaleBytes];
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQKK / 2];  // 64-value quarters: byte l holds value l (low nibble) and l+32 (high)
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQKK / 8];  // value p of quarter c: bit 2c (p < 32) or 2c+1 of qh[p%32]
  uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];  // low 4 bits
  uint8_t qh[kQKK / 4];  // high 2 bits
  int8_t scales[kQKK / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

template <typename B>
inline B load_block(const void* src, int64_t i) {
  B b;
  std::memcpy(&b, static_cast<const uint8_t*>(src) + static_cast<size_t>(i) * sizeof(B), sizeof(B));
  return b;
}
template <typename B>
inline void store_block(void* dst, int64_t i, const B& b) {
  std::memcpy(static_cast<uint8_t*>(dst) + static_cast<size_t>(i) * sizeof(B), &b, sizeof(B));
}

inline float half(uint16_t h) { return f16_to_f32(h); }

// Q4_K/Q5_K: sub-block j's 6-bit scale and min out of the 12 packed bytes (j < 4: low 6 bits of bytes j and
// j+4; j >= 4: a nibble of byte j+4 plus the top 2 bits of bytes j-4 and j).
inline void k4_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q3_K: sub-block j's 6-bit scale (0..63; the value is this - 32): low nibble from byte j (j < 8) or the
// high nibble of byte j-8, the top 2 bits from byte 8 + j%4 at bit 2*(j/4).
inline int k3_scale(const uint8_t* s, int j) {
  const int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
  const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return lo | (hi << 4);
}

// Row codecs over nb whole blocks (the dispatcher checks n).
void dequantize_q8_0(const void* src, float* dst, int64_t nb);
void dequantize_q4_0(const void* src, float* dst, int64_t nb);
void dequantize_q4_1(const void* src, float* dst, int64_t nb);
void dequantize_q5_0(const void* src, float* dst, int64_t nb);
void dequantize_q5_1(const void* src, float* dst, int64_t nb);
void dequantize_q2_k(const void* src, float* dst, int64_t nb);
void dequantize_q3_k(const void* src, float* dst, int64_t nb);
void dequantize_q4_k(const void* src, float* dst, int64_t nb);
void dequantize_q5_k(const void* src, float* dst, int64_t nb);
void dequantize_q6_k(const void* src, float* dst, int64_t nb);

void quantize_q8_0(const float* src, void* dst, int64_t nb);
void quantize_q4_0(const float* src, void* dst, int64_t nb);
void quantize_q4_1(const float* src, void* dst, int64_t nb);
void quantize_q5_0(const float* src, void* dst, int64_t nb);
void quantize_q5_1(const float* src, void* dst, int64_t nb);
void quantize_q2_k(const float* src, void* dst, int64_t nb);
void quantize_q3_k(const float* src, void* dst, int64_t nb);
void quantize_q4_k(const float* src, void* dst, int64_t nb);
void quantize_q5_k(const float* src, void* dst, int64_t nb);
void quantize_q6_k(const float* src, void* dst, int64_t nb);

}  // namespace dm::quant
