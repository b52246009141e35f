// Internal to kernels/: SIMD decoders for ggml's (GGUF) block types, shared by matmul_avx2.cpp and
// matmul_avx512.cpp. Layouts: core/quant.h (ggml-common.h byte for byte).
//
// Include rules: include this (and block_matmul.h) only inside the file's target-pragma region and after
// every other header, so that only these functions get the wider ISA. Everything here has internal
// linkage: each ISA's file compiles its own copy (an inline function with external linkage compiled for
// AVX-512 could otherwise be the one the linker keeps for the AVX2 path). The including file is built with
// -ffp-contract=off (src/CMakeLists.txt): a q*sc followed by + mn must stay two roundings, as in ggml.
//
// A block type's traits (BlockQ8_0, ..., BlockQ6_K):
//   kBlock  elements per block (32 or 256); kBytes: bytes per block;
//   kSub    elements sharing one scale (16 or 32); kHasMin: a weight is q*sc + mn rather than q*sc;
//   scales(blk, Scales&)  the block's sub-block scales (and mins, negated where ggml subtracts them) as
//                         floats, computed as ggml's dequantize_row computes them (d*sc, dmin*m, ...);
//   group(blk, g)         the integer quants of elements [16g, 16g + 16) of the block as 16 int8 (an
//                         __m128i, or for Q8_0 a pointer to them), any offset (-8, -16, -32, Q3_K's -4)
//                         already applied.
// Weight e of a block is then q[e] * sc[e / kSub] (+ mn[e / kSub]) in f32 with one rounding per
// operation: the same bits as dequantize_row (core/quant.h).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "devops_model/core/dtype.h"

namespace dm::kernels {
namespace {

template <int kSubs, bool kMin>
struct BlockScales {
  float sc[kSubs];
  float mn[kMin ? kSubs : 1];
};

inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
// Low (high == false) or high nibbles of 16 bytes.
inline __m128i nibbles(__m128i v, bool high) {
  if (high) v = _mm_srli_epi16(v, 4);
  return _mm_and_si128(v, _mm_set1_epi8(0x0f));
}
// (v >> shift) & 3 per byte (2-bit fields of Q2_K, Q3_K, Q6_K).
inline __m128i crumbs(__m128i v, int shift) {
  return _mm_and_si128(_mm_srl_epi16(v, _mm_cvtsi32_si128(shift)), _mm_set1_epi8(3));
}
// Byte j: val where (v[j] & mask) != 0, else 0.
inline __m128i masked_bit(__m128i v, uint8_t mask, uint8_t val) {
  const __m128i m = _mm_set1_epi8(static_cast<char>(mask));
  return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(v, m), m), _mm_set1_epi8(static_cast<char>(val)));
}
// Byte j: val where bit j of the 16-bit `bits` is set, else 0 (the 5th bits of Q5_0 / Q5_1).
inline __m128i bits_to_bytes(uint32_t bits, uint8_t val) {
  __m128i b = _mm_shuffle_epi8(_mm_set1_epi16(static_cast<short>(bits)),
                               _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const __m128i sel = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  b = _mm_cmpeq_epi8(_mm_and_si128(b, sel), sel);
  return _mm_and_si128(b, _mm_set1_epi8(static_cast<char>(val)));
}
inline __m128i sub8(__m128i v, int k) { return _mm_sub_epi8(v, _mm_set1_epi8(static_cast<char>(k))); }
// out[i] = d * int8 v[i] for the first n (4, 8, 12 or 16) bytes: d*sc in one rounding, as ggml computes it.
inline void scale_bytes(__m128i v, float d, int n, float* out) {
  const __m128 dv = _mm_set1_ps(d);
  for (int i = 0; i < n; i += 4, v = _mm_srli_si128(v, 4))
    _mm_storeu_ps(out + i, _mm_mul_ps(_mm_cvtepi32_ps(_mm_cvtepi8_epi32(v)), dv));
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---- 32-element blocks: one f16 scale d (and min m) ----

// d, int8 q[32]: d*q.
struct BlockQ8_0 {
  static constexpr int64_t kBlock = 32, kSub = 32;
  static constexpr size_t kBytes = 34;
  static constexpr bool kHasMin = false;
  using Scales = BlockScales<1, false>;
  static void scales(const uint8_t* b, Scales& s) { s.sc[0] = load_f16(b); }
  // Plain int8 in memory: the ISA widens straight from there (a load folded into the widening).
  static const int8_t* group(const uint8_t* b, int g) { return reinterpret_cast<const int8_t*>(b + 2 + 16 * g); }
};

// d, qs[16] (element j: low nibble of qs[j], element j+16: high nibble): d*(q-8).
struct BlockQ4_0 {
  static constexpr int64_t kBlock = 32, kSub = 32;
  static constexpr size_t kBytes = 18;
  static constexpr bool kHasMin = false;
  using Scales = BlockScales<1, false>;
  static void scales(const uint8_t* b, Scales& s) { s.sc[0] = load_f16(b); }
  static __m128i group(const uint8_t* b, int g) { return sub8(nibbles(load16(b + 2), g != 0), 8); }
};

// d, m, qs[16] as Q4_0: d*q + m.
struct BlockQ4_1 {
  static constexpr int64_t kBlock = 32, kSub = 32;
  static constexpr size_t kBytes = 20;
  static constexpr bool kHasMin = true;
  using Scales = BlockScales<1, true>;
  static void scales(const uint8_t* b, Scales& s) {
    s.sc[0] = load_f16(b);
    s.mn[0] = load_f16(b + 2);
  }
  static __m128i group(const uint8_t* b, int g) { return nibbles(load16(b + 4), g != 0); }
};

// d, qh (bit j: 5th bit of element j), qs[16] as Q4_0: d*(q-16).
struct BlockQ5_0 {
  static constexpr int64_t kBlock = 32, kSub = 32;
  static constexpr size_t kBytes = 22;
  static constexpr bool kHasMin = false;
  using Scales = BlockScales<1, false>;
  static void scales(const uint8_t* b, Scales& s) { s.sc[0] = load_f16(b); }
  static __m128i group(const uint8_t* b, int g) {
    const __m128i hi = bits_to_bytes(load_u32(b + 2) >> (16 * g), 0x10);
    return sub8(_mm_or_si128(nibbles(load16(b + 6), g != 0), hi), 16);
  }
};

// d, m, qh, qs[16] as Q5_0: d*q + m.
struct BlockQ5_1 {
  static constexpr int64_t kBlock = 32, kSub = 32;
  static constexpr size_t kBytes = 24;
  static constexpr bool kHasMin = true;
  using Scales = BlockScales<1, true>;
  static void scales(const uint8_t* b, Scales& s) {
    s.sc[0] = load_f16(b);
    s.mn[0] = load_f16(b + 2);
  }
  static __m128i group(const uint8_t* b, int g) {
    const __m128i hi = bits_to_bytes(load_u32(b + 4) >> (16 * g), 0x10);
    return _mm_or_si128(nibbles(load16(b + 8), g != 0), hi);
  }
};

// ---- K-quants: super-blocks of 256 ----
// Q2_K, Q3_K and Q6_K store their 2-bit fields as two halves of 128 elements, each 32 bytes wide: element
// 128h + 32j + l sits in bits 2j..2j+1 of byte 32h + l. Group g (16 elements) is therefore half g/8,
// field j = (g/2)%4, bytes from 16*(g%2).

// scales[16] (low nibble: scale, high: min, per 16 elements), qs[64], d, dmin: d*sc*q - dmin*m.
struct BlockQ2_K {
  static constexpr int64_t kBlock = 256, kSub = 16;
  static constexpr size_t kBytes = 84;
  static constexpr bool kHasMin = true;
  using Scales = BlockScales<16, true>;
  static void scales(const uint8_t* b, Scales& s) {
    const __m128i raw = load16(b);
    scale_bytes(nibbles(raw, false), load_f16(b + 80), 16, s.sc);
    scale_bytes(nibbles(raw, true), -load_f16(b + 82), 16, s.mn);  // (-dmin)*m == -(dmin*m) exactly
  }
  static __m128i group(const uint8_t* b, int g) {
    return crumbs(load16(b + 16 + 32 * (g >> 3) + 16 * (g & 1)), 2 * ((g >> 1) & 3));
  }
};

// hmask[32] (bit 4h+j of byte l: 3rd bit of element 128h + 32j + l, set means no -4), qs[64], scales[12]
// (16 6-bit scales, offset 32), d: d*(sc-32)*q.
struct BlockQ3_K {
  static constexpr int64_t kBlock = 256, kSub = 16;
  static constexpr size_t kBytes = 110;
  static constexpr bool kHasMin = false;
  using Scales = BlockScales<16, false>;
  // Scale i: low 4 bits in bytes 0-7 (i < 8: low nibble of byte i, else high nibble of byte i-8), top 2
  // bits in bytes 8-11 (bits 2(i/4).. of byte 8 + i%4). As 32-bit words w0, w1, w2: four
  // scales at a time.
  // The 16 scales minus 32, as int8.
  static __m128i raw_scales(const uint8_t* b) {
    const uint32_t w0 = load_u32(b + 96), w1 = load_u32(b + 100), w2 = load_u32(b + 104);
    constexpr uint32_t kLo4 = 0x0f0f0f0f, kLo2 = 0x03030303;
    const __m128i raw = _mm_setr_epi32(static_cast<int>((w0 & kLo4) | ((w2 & kLo2) << 4)),
                                       static_cast<int>((w1 & kLo4) | (((w2 >> 2) & kLo2) << 4)),
                                       static_cast<int>(((w0 >> 4) & kLo4) | (((w2 >> 4) & kLo2) << 4)),
                                       static_cast<int>(((w1 >> 4) & kLo4) | (((w2 >> 6) & kLo2) << 4)));
    return sub8(raw, 32);
  }
  static void scales(const uint8_t* b, Scales& s) { scale_bytes(raw_scales(b), load_f16(b + 108), 16, s.sc); }
  static __m128i group(const uint8_t* b, int g) {
    const int half = g >> 3, field = (g >> 1) & 3, l0 = 16 * (g & 1);
    const __m128i q = crumbs(load16(b + 32 + 32 * half + l0), 2 * field);
    const __m128i hm = _mm_and_si128(load16(b + l0), _mm_set1_epi8(static_cast<char>(1 << (4 * half + field))));
    const __m128i minus4 = _mm_and_si128(_mm_cmpeq_epi8(hm, _mm_setzero_si128()), _mm_set1_epi8(4));
    return _mm_sub_epi8(q, minus4);
  }
};

// Q4_K / Q5_K scales[12]: 8 6-bit scales and 8 6-bit mins, one each per 32 elements. i < 4: scale i in
// byte i, min i in byte i+4 (low 6 bits); i >= 4: low 4 bits in byte i+4 (scale: low nibble, min: high),
// top 2 bits in the spare top bits of bytes i-4 (scale) and i (min). As 32-bit words w0, w1, w2.
// Bytes 0-7: the 8 scales, bytes 8-15: the 8 mins, as integers.
inline __m128i scales_k4_raw(const uint8_t* b) {
  const uint32_t w0 = load_u32(b + 4), w1 = load_u32(b + 8), w2 = load_u32(b + 12);
  constexpr uint32_t kLo6 = 0x3f3f3f3f, kLo4 = 0x0f0f0f0f, kLo2 = 0x03030303;
  return _mm_setr_epi32(static_cast<int>(w0 & kLo6),                                        // scales 0-3
                        static_cast<int>((w2 & kLo4) | (((w0 >> 6) & kLo2) << 4)),          // scales 4-7
                        static_cast<int>(w1 & kLo6),                                        // mins 0-3
                        static_cast<int>(((w2 >> 4) & kLo4) | (((w1 >> 6) & kLo2) << 4)));  // mins 4-7
}
inline void scales_k4(const uint8_t* b, BlockScales<8, true>& s) {
  const __m128i raw = scales_k4_raw(b);
  scale_bytes(raw, load_f16(b), 8, s.sc);
  scale_bytes(_mm_srli_si128(raw, 8), -load_f16(b + 2), 8, s.mn);  // (-dmin)*m == -(dmin*m) exactly
}

// d, dmin, scales[12], qs[128] (element 64c + l: low nibble of byte 32c + l, 64c + 32 + l: high nibble):
// d*sc*q - dmin*m.
struct BlockQ4_K {
  static constexpr int64_t kBlock = 256, kSub = 32;
  static constexpr size_t kBytes = 144;
  static constexpr bool kHasMin = true;
  using Scales = BlockScales<8, true>;
  static void scales(const uint8_t* b, Scales& s) { scales_k4(b, s); }
  static __m128i group(const uint8_t* b, int g) {
    return nibbles(load16(b + 16 + 32 * (g >> 2) + 16 * (g & 1)), (g >> 1) & 1);
  }
};

// d, dmin, scales[12], qh[32] (bit s of byte l: 5th bit of element 32s + l), qs[128] as Q4_K.
struct BlockQ5_K {
  static constexpr int64_t kBlock = 256, kSub = 32;
  static constexpr size_t kBytes = 176;
  static constexpr bool kHasMin = true;
  using Scales = BlockScales<8, true>;
  static void scales(const uint8_t* b, Scales& s) { scales_k4(b, s); }
  static __m128i group(const uint8_t* b, int g) {
    const int sub = g >> 1, l0 = 16 * (g & 1);
    const __m128i lo = nibbles(load16(b + 48 + 32 * (g >> 2) + l0), sub & 1);
    return _mm_or_si128(lo, masked_bit(load16(b + 16 + l0), static_cast<uint8_t>(1 << sub), 0x10));
  }
};

// ql[128] (low 4 bits), qh[64] (top 2 bits), int8 scales[16], d: d*sc*(q-32). Half h: field j of element
// 128h + 32j + l: nibble (j/2 ? high : low) of ql[64h + 32(j%2) + l], bits 2j..2j+1 of qh[32h + l].
struct BlockQ6_K {
  static constexpr int64_t kBlock = 256, kSub = 16;
  static constexpr size_t kBytes = 210;
  static constexpr bool kHasMin = false;
  using Scales = BlockScales<16, false>;
  static void scales(const uint8_t* b, Scales& s) { scale_bytes(load16(b + 192), load_f16(b + 208), 16, s.sc); }
  static __m128i group(const uint8_t* b, int g) {
    const int half = g >> 3, field = (g >> 1) & 3, l0 = 16 * (g & 1);
    const __m128i lo = nibbles(load16(b + 64 * half + 32 * (field & 1) + l0), field >> 1);
    const __m128i hi = _mm_slli_epi16(crumbs(load16(b + 128 + 32 * half + l0), 2 * field), 4);
    return sub8(_mm_or_si128(lo, hi), 32);
  }
};

// Calls f(Traits{}) for a block type; false if wt is not one. f is a named functor (block_matmul.h), not a
// lambda: the including file's target pragma must reach its body.
template <class Fn>
bool with_block_type(DType wt, Fn&& f) {
  switch (wt) {
    case DType::kQ8_0: f(BlockQ8_0{}); return true;
    case DType::kQ4_0: f(BlockQ4_0{}); return true;
    case DType::kQ4_1: f(BlockQ4_1{}); return true;
    case DType::kQ5_0: f(BlockQ5_0{}); return true;
    case DType::kQ5_1: f(BlockQ5_1{}); return true;
    case DType::kQ2_K: f(BlockQ2_K{}); return true;
    case DType::kQ3_K: f(BlockQ3_K{}); return true;
    case DType::kQ4_K: f(BlockQ4_K{}); return true;
    case DType::kQ5_K: f(BlockQ5_K{}); return true;
    case DType::kQ6_K: f(BlockQ6_K{}); return true;
    default: return false;
  }
}

}  // namespace
}  // namespace dm::kernels
