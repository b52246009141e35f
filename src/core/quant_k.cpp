// Dequantization of ggml's K-quant super-blocks (256 values). Value p of a super-block is computed with
// ggml's exact expression for it: the per-sub-block factors first (d*sc, dmin*mn; f32 products of f16 and
// small integers), then factor*q - offset, so the result is bit-identical to dequantize_row_q*_K.
#include "core/quant_blocks.h"

namespace dm::quant {

namespace {
// Q2_K / Q3_K: the 2 low bits of value p. Each 128-value half uses 32 bytes; value p sits in byte p%32 of
// its half, at bit 2 * ((p%128) / 32).
int low2(const uint8_t* qs, int p) {
  const int half_base = (p / 128) * 32;
  const int shift = 2 * ((p % 128) / 32);
  return (qs[half_base + p % 32] >> shift) & 3;
}

// Q4_K / Q5_K: the 4 low bits of value p. Each 64-value quarter uses 32 bytes: its first 32 values in the
// low nibbles, the next 32 in the high nibbles.
int low4(const uint8_t* qs, int p) {
  const uint8_t byte = qs[(p / 64) * 32 + p % 32];
  return (p % 64) < 32 ? (byte & 0xF) : (byte >> 4);
}
}  // namespace

void dequantize_q2_k(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const auto b = load_block<BlockQ2_K>(src, i);
    const float d = half(b.d), dmin = half(b.dmin);
    for (int s = 0; s < kQKK / 16; ++s) {
      const float dl = d * static_cast<float>(b.scales[s] & 0xF);
      const float ml = dmin * static_cast<float>(b.scales[s] >> 4);
      for (int p = 16 * s; p < 16 * s + 16; ++p) y[p] = dl * static_cast<float>(low2(b.qs, p)) - ml;
    }
  }
}

void dequantize_q3_k(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const auto b = load_block<BlockQ3_K>(src, i);
    const float d = half(b.d);
    for (int s = 0; s < kQKK / 16; ++s) {
      const float dl = d * static_cast<float>(k3_scale(b.scales, s) - 32);
      for (int p = 16 * s; p < 16 * s + 16; ++p) {
        const bool high = (b.hmask[p % 32] >> (p / 32)) & 1;
        y[p] = dl * static_cast<float>(low2(b.qs, p) - (high ? 0 : 4));
      }
    }
  }
}

void dequantize_q4_k(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const auto b = load_block<BlockQ4_K>(src, i);
    const float d = half(b.d), dmin = half(b.dmin);
    for (int s = 0; s < kQKK / 32; ++s) {
      uint8_t sc, mn;
      k4_scale_min(b.scales, s, &sc, &mn);
      const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
      for (int p = 32 * s; p < 32 * s + 32; ++p) y[p] = dl * static_cast<float>(low4(b.qs, p)) - ml;
    }
  }
}

void dequantize_q5_k(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const auto b = load_block<BlockQ5_K>(src, i);
    const float d = half(b.d), dmin = half(b.dmin);
    for (int s = 0; s < kQKK / 32; ++s) {
      uint8_t sc, mn;
      k4_scale_min(b.scales, s, &sc, &mn);
      const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
      for (int p = 32 * s; p < 32 * s + 32; ++p) {
        const int fifth = (b.qh[p % 32] >> s) & 1;  // sub-block s's 5th bits are bit s of qh
        y[p] = dl * static_cast<float>(low4(b.qs, p) + 16 * fifth) - ml;
      }
    }
  }
}

// Q6_K: each 128-value half uses 64 ql bytes and 32 qh bytes. Value r (0..127) of a half: its low nibble
// in ql[r%64] (low nibble for r < 64, high for r >= 64), its high 2 bits in qh[r%32] at bit 2*(r/32).
void dequantize_q6_k(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const auto b = load_block<BlockQ6_K>(src, i);
    const float d = half(b.d);
    for (int p = 0; p < kQKK; ++p) {
      const int h = p / 128, r = p % 128;
      const uint8_t lbyte = b.ql[64 * h + r % 64];
      const int lo = r < 64 ? (lbyte & 0xF) : (lbyte >> 4);
      const int hi = (b.qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
      const int q = (lo | (hi << 4)) - 32;
      y[p] = d * static_cast<float>(b.scales[p / 16]) * static_cast<float>(q);
    }
  }
}

}  // namespace dm::quant
