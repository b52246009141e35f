// ggml's K-quant reference quantizers (quantize_row_q{2,3,4,5,6}_K_ref: what llama-quantize writes without
// an imatrix), one super-block of 256 values at a time. Each follows the same three steps:
//   1. per sub-block (16 or 32 values), a scale (and min) from a search in quant_search.cpp;
//   2. the sub-block scales quantized to 4/6/8 bits against one f16 super-block scale;
//   3. every value re-quantized with its sub-block's *stored* scale (f16 d times the integer sub-scale),
//      except in sub-blocks whose stored scale is 0, which keep the search's levels;
// then the levels are packed into the block's bit layout (quant_blocks.h).
#include <algorithm>
#include <cmath>

#include "core/quant_blocks.h"
#include "core/quant_search.h"

namespace dm::quant {

namespace {
constexpr float kGroupMaxEps = 1e-15f;

// Q2_K / Q3_K: 2-bit levels into 64 bytes; each 128-value half uses 32 bytes, value p at bit
// 2 * ((p%128)/32) of byte p%32.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
    }
}

// Q4_K / Q5_K: sub-block j's 6-bit scale and min into the 12 scale bytes (inverse of k4_scale_min).
void pack_k4_scales(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = ls[j];
    s[j + 4] = lm[j];
  }
  for (int j = 4; j < 8; ++j) {
    s[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
    s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((ls[j] >> 4) << 6));
    s[j] = static_cast<uint8_t>(s[j] | ((lm[j] >> 4) << 6));
  }
}

// Steps 1-3 shared by Q4_K and Q5_K (8 sub-blocks of 32, affine, nmax 15 or 31): fills d, dmin, the
// scale bytes and the 256 levels in [0, nmax].
void affine_superblock(const float* x, const AffineSearch& cfg, uint16_t* d_out, uint16_t* dmin_out,
                       uint8_t* scale_bytes, uint8_t* L) {
  constexpr int kSub = 32, kNSub = kQKK / kSub;
  float scales[kNSub], mins[kNSub], weights[kSub];
  uint8_t Laux[kSub];
  float max_scale = 0.f, max_min = 0.f;
  for (int j = 0; j < kNSub; ++j) {
    const float* xs = x + kSub * j;
    float sum_x2 = 0.f;
    for (int l = 0; l < kSub; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / kSub);
    for (int l = 0; l < kSub; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = search_affine_scale(kSub, cfg, xs, weights, L + kSub * j, &mins[j], Laux);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[kNSub], lm[kNSub];
  for (int j = 0; j < kNSub; ++j) {  // ggml narrows to uint8 before clamping
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_k4_scales(ls, lm, scale_bytes);
  *d_out = f32_to_f16(max_scale / 63.f);
  *dmin_out = f32_to_f16(max_min / 63.f);
  for (int j = 0; j < kNSub; ++j) {
    uint8_t sc, m;
    k4_scale_min(scale_bytes, j, &sc, &m);
    const float d = half(*d_out) * static_cast<float>(sc);
    if (d == 0.f) continue;
    const float dm = half(*dmin_out) * static_cast<float>(m);
    for (int i = 0; i < kSub; ++i) {
      const int l = nearest_int((x[kSub * j + i] + dm) / d);
      L[kSub * j + i] = static_cast<uint8_t>(std::max(0, std::min(cfg.nmax, l)));
    }
  }
}
}  // namespace

void quantize_q2_k(const float* x, void* dst, int64_t nb) {
  constexpr int kSub = 16, kNSub = kQKK / kSub;
  constexpr float kLevels = 15.f;  // 4-bit sub-block scales and mins
  const AffineSearch cfg{3, -0.5f, 0.1f, 15, true};
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    BlockQ2_K b{};
    uint8_t L[kQKK], Laux[kSub];
    float scales[kNSub], mins[kNSub], weights[kSub];
    float max_scale = 0.f, max_min = 0.f;
    for (int j = 0; j < kNSub; ++j) {
      for (int l = 0; l < kSub; ++l) weights[l] = std::fabs(x[kSub * j + l]);
      scales[j] = search_affine_scale(kSub, cfg, x + kSub * j, weights, L + kSub * j, &mins[j], Laux);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = kLevels / max_scale;
      for (int j = 0; j < kNSub; ++j) b.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      b.d = f32_to_f16(max_scale / kLevels);
    }  // else scales and d stay 0
    if (max_min > 0) {
      const float iscale = kLevels / max_min;
      for (int j = 0; j < kNSub; ++j)
        b.scales[j] = static_cast<uint8_t>(b.scales[j] | (nearest_int(iscale * mins[j]) << 4));
      b.dmin = f32_to_f16(max_min / kLevels);
    }
    for (int j = 0; j < kNSub; ++j) {
      const float d = half(b.d) * static_cast<float>(b.scales[j] & 0xF);
      if (d == 0.f) continue;
      const float dm = half(b.dmin) * static_cast<float>(b.scales[j] >> 4);
      for (int l = 0; l < kSub; ++l) {
        const int q = nearest_int((x[kSub * j + l] + dm) / d);
        L[kSub * j + l] = static_cast<uint8_t>(std::max(0, std::min(3, q)));
      }
    }
    pack_2bit(L, b.qs);
    store_block(dst, i, b);
  }
}

namespace {
// Q3_K's 16 6-bit scales (value + 32) into 12 bytes: low nibbles in bytes 0-7 (sub-blocks 8-15 in the high
// nibbles), the top 2 bits of sub-block j in byte 8 + j%4 at bit 2*(j/4). Inverse of k3_scale.
void pack_k3_scale(int j, int v, uint8_t* s) {
  if (j < 8) {
    s[j] = static_cast<uint8_t>(v & 0xF);
  } else {
    s[j - 8] = static_cast<uint8_t>(s[j - 8] | ((v & 0xF) << 4));
  }
  s[8 + j % 4] = static_cast<uint8_t>(s[8 + j % 4] | ((v >> 4) << (2 * (j / 4))));
}

// Q3_K's 3-bit levels (0..7): bit 2 into hmask (value p: bit p/32 of byte p%32), bits 0-1 packed as Q2_K.
void pack_q3_levels(uint8_t* L, uint8_t* hmask, uint8_t* qs) {
  for (int p = 0; p < kQKK; ++p) {
    if (L[p] > 3) {
      hmask[p % 32] = static_cast<uint8_t>(hmask[p % 32] | (1 << (p / 32)));
      L[p] = static_cast<uint8_t>(L[p] - 4);
    }
  }
  pack_2bit(L, qs);
}
}  // namespace

void quantize_q3_k(const float* x, void* dst, int64_t nb) {
  constexpr int kSub = 16, kNSub = kQKK / kSub;
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    BlockQ3_K b{};
    int8_t L[kQKK];
    float scales[kNSub];
    float max_scale = 0.f, amax = 0.f;  // the signed scale of largest magnitude
    for (int j = 0; j < kNSub; ++j) {
      scales[j] = search_symmetric_scale_q3(kSub, 4, x + kSub * j, L + kSub * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (max_scale != 0.f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < kNSub; ++j) {
        const int l = static_cast<int8_t>(nearest_int(iscale * scales[j]));  // ggml narrows to int8 first
        pack_k3_scale(j, std::max(-32, std::min(31, l)) + 32, b.scales);
      }
      b.d = f32_to_f16(1 / iscale);
    }
    for (int j = 0; j < kNSub; ++j) {
      const float d = half(b.d) * static_cast<float>(k3_scale(b.scales, j) - 32);
      if (d == 0.f) continue;
      for (int l = 0; l < kSub; ++l) {
        const int q = nearest_int(x[kSub * j + l] / d);
        L[kSub * j + l] = static_cast<int8_t>(std::max(-4, std::min(3, q)) + 4);
      }
    }
    pack_q3_levels(reinterpret_cast<uint8_t*>(L), b.hmask, b.qs);
    store_block(dst, i, b);
  }
}

void quantize_q4_k(const float* x, void* dst, int64_t nb) {
  const AffineSearch cfg{15, -1.f, 0.1f, 20, false};
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    BlockQ4_K b{};
    uint8_t L[kQKK];
    affine_superblock(x, cfg, &b.d, &b.dmin, b.scales, L);
    for (int q = 0; q < 4; ++q)  // 64-value quarters: first 32 in the low nibbles, next 32 in the high
      for (int l = 0; l < 32; ++l) b.qs[32 * q + l] = static_cast<uint8_t>(L[64 * q + l] | (L[64 * q + l + 32] << 4));
    store_block(dst, i, b);
  }
}

void quantize_q5_k(const float* x, void* dst, int64_t nb) {
  const AffineSearch cfg{31, -0.5f, 0.1f, 15, false};
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    BlockQ5_K b{};
    uint8_t L[kQKK];
    affine_superblock(x, cfg, &b.d, &b.dmin, b.scales, L);
    for (int q = 0; q < 4; ++q) {  // as Q4_K, the 5th bit of sub-block s = 2q or 2q+1 in bit s of qh
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * q + l], hi = L[64 * q + l + 32];
        b.qs[32 * q + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        b.qh[l] = static_cast<uint8_t>(b.qh[l] | ((lo >> 4) << (2 * q)) | ((hi >> 4) << (2 * q + 1)));
      }
    }
    store_block(dst, i, b);
  }
}

namespace {
// Q6_K's 6-bit levels (0..63): per 128-value half, value r's low nibble into ql[r%64] (high nibble for
// r >= 64), its top 2 bits into qh[r%32] at bit 2*(r/32).
void pack_q6_levels(const int8_t* L, uint8_t* ql, uint8_t* qh) {
  for (int p = 0; p < kQKK; ++p) {
    const int h = p / 128, r = p % 128, v = L[p];
    uint8_t& lb = ql[64 * h + r % 64];
    lb = static_cast<uint8_t>(lb | ((v & 0xF) << (r < 64 ? 0 : 4)));
    uint8_t& hb = qh[32 * h + r % 32];
    hb = static_cast<uint8_t>(hb | ((v >> 4) << (2 * (r / 32))));
  }
}
}  // namespace

void quantize_q6_k(const float* x, void* dst, int64_t nb) {
  constexpr int kSub = 16, kNSub = kQKK / kSub;
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    BlockQ6_K b{};
    int8_t L[kQKK];
    float scales[kNSub];
    float max_scale = 0.f, max_abs_scale = 0.f;
    for (int j = 0; j < kNSub; ++j) {
      scales[j] = search_symmetric_scale(kSub, 32, x + kSub * j, L + kSub * j);
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {  // an all-zero block
      store_block(dst, i, b);
      continue;
    }
    const float iscale = -128.f / max_scale;
    b.d = f32_to_f16(1 / iscale);
    for (int j = 0; j < kNSub; ++j) b.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    for (int j = 0; j < kNSub; ++j) {
      const float d = half(b.d) * static_cast<float>(b.scales[j]);
      if (d == 0.f) continue;
      for (int l = 0; l < kSub; ++l) {
        const int q = nearest_int(x[kSub * j + l] / d);
        L[kSub * j + l] = static_cast<int8_t>(std::max(-32, std::min(31, q)) + 32);
      }
    }
    pack_q6_levels(L, b.ql, b.qh);
    store_block(dst, i, b);
  }
}

}  // namespace dm::quant
