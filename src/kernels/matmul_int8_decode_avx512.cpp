// Integer matmul for a few tokens (decode; quantized_acts.h's row layout), AVX-512 VNNI. Vector lanes run
// along K: a chunk of 64 weights is unpacked straight from its ggml blocks to unsigned quants (one type's
// loader below), and each token's 64 signed activation quants are multiplied into it by one vpdpbusd.
// Every weight is written as sc * u + mn with u unsigned (the offset types' -8, -16, -32, -128 become a min:
// mn = -offset * sc), so per chunk and token:
//   y += float(sum_4 u * q) * (sc * d)   per 32-bit lane (4 elements of one sub-block),
//   y += mn * (d * sum of q over 16)     on the first lane of each 16 elements (lane_sum),
// summed over the lanes at the end. Every ggml block type: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (pairs of 32-blocks per
// chunk), Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (4 chunks per 256-block).
// Shape legend: acts (T, K) rows; W (N, K) in blocks, K a multiple of 64; y (T, N) with row stride ldy.
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "devops_model/core/dtype.h"
#include "devops_model/core/error.h"
#include "kernels/matmul_isa.h"
#include "kernels/quantized_acts.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c")
#endif

#include "kernels/block_decode.h"

namespace dm::kernels {

namespace {

// One chunk of 64 weights: unsigned quants, and per 32-bit lane the scale and the min.
struct Chunk {
  __m512i u;
  __m512 sc, mn;
};

inline __m512i lo_nibbles(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
inline __m512i hi_nibbles(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f)); }
inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
// Lanes 0-7: f16 a, lanes 8-15: f16 b, as floats.
inline __m512 two_scales(const uint8_t* a, const uint8_t* b) {
  uint16_t ha, hb;
  std::memcpy(&ha, a, 2);
  std::memcpy(&hb, b, 2);
  // Both widened in one vector's first two lanes, then spread (fewer vector ops than two broadcasts).
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(ha | static_cast<uint32_t>(hb) << 16)));
  return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), _mm512_castps128_ps512(f));
}
// The nibbles of v's bytes: 16-bit lanes shifted right by `shifts` (0: low nibbles, 4: high), masked to 4 bits.
inline __m512i nibbles(__m512i v, __m512i shifts) {
  return _mm512_and_si512(_mm512_srlv_epi16(v, shifts), _mm512_set1_epi8(0x0f));
}
// Q4_0/Q5_0's 16 bytes of nibbles for two blocks as elements 0-31 of each: [lo a, hi a, lo b, hi b]. The
// loads broadcast [a, a, b, b] into the four 128-bit lanes; one shift per lane (0, 4, 0, 4) picks the nibbles.
inline __m512i nibble_pairs(const uint8_t* a, const uint8_t* b) {
  const __m512i v = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
                                                0xFF00, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
  const __m512i shifts = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004,
                                          0x0004000400040004, 0, 0);
  return nibbles(v, shifts);
}

// u + val where the byte of `bits` (32 bytes, both halves of a broadcast) has bit `lo` (u's bytes 0-31) or bit
// `hi` (bytes 32-63) set: the high bit of Q5_K's quants, Q3_K's "no -4" bit.
inline __m512i add_where_bits(__m512i u, const uint8_t* bits, int lo, int hi, char val) {
  const __m512i sel = join(_mm256_set1_epi8(static_cast<char>(1 << lo)), _mm256_set1_epi8(static_cast<char>(1 << hi)));
  return _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(_mm512_broadcast_i64x4(load32(bits)), sel), u,
                              _mm512_set1_epi8(val));
}

// Loaders: kChunks chunks per block (a pair of 32-blocks counts as one block); begin(blk) once per block.

// Two consecutive 32-blocks of kBlockBytes, each starting with its f16 d: weight = d * (u - kOffset), u the
// unsigned quants Quants::unpack(block a, block b) gives for both blocks' 64 elements; kOffset = kStoredMin
// (Q4_1, Q5_1): weight = d * u + m, the block's f16 m following d.
inline constexpr int kStoredMin = 0;
template <int64_t kBlockBytes, int kOffset, class Quants>
struct BlockPairLoader {
  static constexpr int kChunks = 1;
  static constexpr int64_t kElems = 64, kBytes = 2 * kBlockBytes;
  const uint8_t* blk;
  void begin(const uint8_t* b) { blk = b; }
  Chunk chunk(int) const {
    Chunk c;
    c.u = Quants::unpack(blk, blk + kBlockBytes);
    c.sc = two_scales(blk, blk + kBlockBytes);
    c.mn = kOffset == kStoredMin ? two_scales(blk + 2, blk + kBlockBytes + 2)
                                 : _mm512_mul_ps(c.sc, _mm512_set1_ps(-static_cast<float>(kOffset)));
    return c;
  }
};

struct Q8_0Quants {  // int8 q at byte 2, made unsigned: q + 128
  static __m512i unpack(const uint8_t* a, const uint8_t* b) {
    return _mm512_xor_si512(join(load32(a + 2), load32(b + 2)), _mm512_set1_epi8(static_cast<char>(0x80)));
  }
};
template <int64_t kNibbles>  // Q4_0 (nibbles at byte 2), Q4_1 (byte 4)
struct NibbleQuants {
  static __m512i unpack(const uint8_t* a, const uint8_t* b) { return nibble_pairs(a + kNibbles, b + kNibbles); }
};
template <int64_t kBits, int64_t kNibbles>  // Q5_0 (5th bits at byte 2, bit j: element j; nibbles at 6), Q5_1 (4, 8)
struct Nibble5Quants {
  static __m512i unpack(const uint8_t* a, const uint8_t* b) {
    uint32_t qa, qb;
    std::memcpy(&qa, a + kBits, 4);
    std::memcpy(&qb, b + kBits, 4);
    const __m512i u = nibble_pairs(a + kNibbles, b + kNibbles);
    return _mm512_mask_add_epi8(u, static_cast<__mmask64>(qa) | (static_cast<__mmask64>(qb) << 32), u,
                                _mm512_set1_epi8(16));
  }
};

using Q8_0Loader = BlockPairLoader<34, 128, Q8_0Quants>;
using Q4_0Loader = BlockPairLoader<18, 8, NibbleQuants<2>>;
using Q5_0Loader = BlockPairLoader<22, 16, Nibble5Quants<2, 6>>;
using Q4_1Loader = BlockPairLoader<20, kStoredMin, NibbleQuants<4>>;
using Q5_1Loader = BlockPairLoader<24, kStoredMin, Nibble5Quants<4, 8>>;

// Lanes 0-7 take s[2j], lanes 8-15 s[2j + 1] (Q4_K: a scale per 32 elements).
inline __m512 per32(__m512 s, int j) {
  const __m512i idx =
      _mm512_add_epi32(_mm512_set1_epi32(2 * j), _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0));
  return _mm512_permutexvar_ps(idx, s);
}
// Lanes 4i..4i+3 take s[4j + i] (Q6_K: a scale per 16 elements).
inline __m512 per16(__m512 s, int j) {
  const __m512i idx =
      _mm512_add_epi32(_mm512_set1_epi32(4 * j), _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0));
  return _mm512_permutexvar_ps(idx, s);
}

// Q4_K (kQs 16) and Q5_K's low 4 bits (kQs 48): d, dmin, scales[12], then the nibbles at kQs, element 64j + l
// the low nibble of byte 32j + l, 64j + 32 + l its high nibble.
template <int64_t kQs, int64_t kBlockBytes>
struct K4Loader {
  static constexpr int kChunks = 4;
  static constexpr int64_t kElems = 256, kBytes = kBlockBytes;
  const uint8_t* blk;
  __m512 sc, mn;  // lanes 0-7: the 8 sub-block scales / mins
  // In registers (scales_k4's array round trip stalls on store forwarding), with its arithmetic: one
  // rounding of d * scale and of (-dmin) * min.
  void begin(const uint8_t* b) {
    blk = b;
    const __m128i raw = scales_k4_raw(b);
    sc = _mm512_castps256_ps512(
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(raw)), _mm256_set1_ps(load_f16(b))));
    mn = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(raw, 8))),
                                              _mm256_set1_ps(-load_f16(b + 2))));
  }
  Chunk chunk(int j) const {  // elements 64j..64j+63: low then high nibbles of the 32 bytes
    const __m512i v = _mm512_broadcast_i64x4(load32(blk + kQs + 32 * j));  // both halves: the 32 bytes
    Chunk c;
    c.u = nibbles(v, _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1));
    c.sc = per32(sc, j);
    c.mn = per32(mn, j);
    return c;
  }
};

using Q4_KLoader = K4Loader<16, 144>;

// Q5_K: Q4_K's layout with qh[32] before the nibbles; the 5th bit of element 64j + l (l < 32) is bit 2j of
// qh[l], of 64j + 32 + l bit 2j + 1.
struct Q5_KLoader : K4Loader<48, 176> {
  Chunk chunk(int j) const {
    Chunk c = K4Loader::chunk(j);
    c.u = add_where_bits(c.u, blk + 16, 2 * j, 2 * j + 1, 16);
    return c;
  }
};

struct Q6_KLoader {
  static constexpr int kChunks = 4;
  static constexpr int64_t kElems = 256, kBytes = 210;
  const uint8_t* blk;
  __m512 sc;                      // the 16 scales d * sc
  void begin(const uint8_t* b) {  // d * int8 scale, in registers (as Q4_KLoader)
    blk = b;
    sc = _mm512_mul_ps(
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192)))),
        _mm512_set1_ps(load_f16(b + 208)));
  }
  // Half h = j / 2 holds elements 128h..128h+127: ql[64h..64h+63], qh[32h..32h+31]; its first chunk takes
  // the low nibbles and qh bits 0-3, its second the high nibbles and bits 4-7.
  Chunk chunk(int j) const {
    const int h = j >> 1;
    const __m512i ql = _mm512_loadu_si512(blk + 64 * h);
    const __m256i qh = load32(blk + 128 + 32 * h);
    __m512i hi2 = join(qh, _mm256_srli_epi16(qh, 2));
    if (j & 1) hi2 = _mm512_srli_epi16(hi2, 4);
    hi2 = _mm512_slli_epi16(_mm512_and_si512(hi2, _mm512_set1_epi8(3)), 4);
    Chunk c;
    c.u = _mm512_or_si512((j & 1) ? hi_nibbles(ql) : lo_nibbles(ql), hi2);
    c.sc = per16(sc, j);
    c.mn = _mm512_mul_ps(c.sc, _mm512_set1_ps(-32.0f));
    return c;
  }
};

// Q2_K and Q3_K: 2-bit fields, element 128h + 32f + l in bits 2f..2f+1 of byte 32h + l of the 64 bytes at
// kQs. Chunk j is half j / 2, fields 2(j % 2) (bytes 0-31) and 2(j % 2) + 1 (bytes 32-63).
template <int64_t kQs>
inline __m512i two_bit_fields(const uint8_t* blk, int j) {
  const __m512i v = _mm512_broadcast_i64x4(load32(blk + kQs + 32 * (j >> 1)));
  const int f = 2 * (j & 1);
  const __m512i shifts = join(_mm256_set1_epi16(static_cast<short>(2 * f)), _mm256_set1_epi16(static_cast<short>(2 * f + 2)));
  return _mm512_and_si512(_mm512_srlv_epi16(v, shifts), _mm512_set1_epi8(3));
}

// scales[16] (low nibble: scale, high: min, per 16 elements), qs[64], d, dmin: d*sc*q - dmin*m.
struct Q2_KLoader {
  static constexpr int kChunks = 4;
  static constexpr int64_t kElems = 256, kBytes = 84;
  const uint8_t* blk;
  __m512 sc, mn;  // the 16 d * scale, (-dmin) * min
  void begin(const uint8_t* b) {
    blk = b;
    const __m512i raw = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
    sc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_and_si512(raw, _mm512_set1_epi32(15))), _mm512_set1_ps(load_f16(b + 80)));
    mn = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(raw, 4)), _mm512_set1_ps(-load_f16(b + 82)));
  }
  Chunk chunk(int j) const {
    Chunk c;
    c.u = two_bit_fields<16>(blk, j);
    c.sc = per16(sc, j);
    c.mn = per16(mn, j);
    return c;
  }
};

// hmask[32] (bit 4h + f of byte l: the 3rd bit of element 128h + 32f + l, set means no -4), qs[64], scales[12],
// d: d*(sc-32)*q, q = u - 4 with u = the 2 bits + 4 where the 3rd bit is set.
struct Q3_KLoader {
  static constexpr int kChunks = 4;
  static constexpr int64_t kElems = 256, kBytes = 110;
  const uint8_t* blk;
  __m512 sc;  // the 16 d * (scale - 32)
  void begin(const uint8_t* b) {
    blk = b;
    sc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(BlockQ3_K::raw_scales(b))), _mm512_set1_ps(load_f16(b + 108)));
  }
  Chunk chunk(int j) const {
    const int bit = 4 * (j >> 1) + 2 * (j & 1);
    Chunk c;
    c.u = add_where_bits(two_bit_fields<32>(blk, j), blk, bit, bit + 1, 4);
    c.sc = per16(sc, j);
    c.mn = _mm512_mul_ps(c.sc, _mm512_set1_ps(-4.0f));
    return c;
  }
};

// Rows [n, n + R) x tokens [t0, t0 + TT).
template <class L, int R, int TT>
void tile(const QuantizedActs& a, const uint8_t* w, int64_t n, int64_t t0, float* y, int64_t ldy) {
  const int64_t K = a.K, blocks = K / L::kElems;
  __m512 acc[R][TT];
  for (int i = 0; i < R; ++i)
    for (int t = 0; t < TT; ++t) acc[i][t] = _mm512_setzero_ps();
  L ld[R];
  for (int64_t b = 0; b < blocks; ++b) {
    for (int i = 0; i < R; ++i) {
      const uint8_t* blk = w + ((n + i) * blocks + b) * L::kBytes;
      ld[i].begin(blk);
      // The R row streams outrun the hardware prefetcher: ask for each row's data kRowPrefetchBytes ahead.
      // Every cache line the block spans (a block is not line-aligned: 68 bytes can touch 3 lines).
      const uintptr_t first = reinterpret_cast<uintptr_t>(blk + kRowPrefetchBytes) & ~uintptr_t{63};
      for (uintptr_t line = first; line < reinterpret_cast<uintptr_t>(blk + kRowPrefetchBytes + L::kBytes); line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
    }
    for (int j = 0; j < L::kChunks; ++j) {
      const int64_t k = b * L::kElems + 64 * j;
      __m512i xq[TT];
      __m512 xd[TT], xs[TT];
      for (int t = 0; t < TT; ++t) {
        const int64_t row = (t0 + t) * K;
        xq[t] = _mm512_loadu_si512(a.rows.data() + row + k);
        xd[t] = _mm512_loadu_ps(a.lane_d.data() + (row + k) / 4);
        xs[t] = _mm512_loadu_ps(a.lane_sum.data() + (row + k) / 4);
      }
      for (int i = 0; i < R; ++i) {
        const Chunk c = ld[i].chunk(j);
        for (int t = 0; t < TT; ++t) {
          const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c.u, xq[t]);
          acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(c.sc, xd[t]), acc[i][t]);
          acc[i][t] = _mm512_fmadd_ps(c.mn, xs[t], acc[i][t]);
        }
      }
    }
  }
  for (int i = 0; i < R; ++i)
    for (int t = 0; t < TT; ++t) y[(t0 + t) * ldy + n + i] = _mm512_reduce_add_ps(acc[i][t]);
}

// Token pairs, then a single token, for rows [n, n + R).
template <class L, int R>
void token_tiles(const QuantizedActs& a, const uint8_t* w, int64_t n, float* y, int64_t ldy) {
  int64_t t = 0;
  for (; t + 2 <= a.T; t += 2) tile<L, R, 2>(a, w, n, t, y, ldy);
  if (t < a.T) tile<L, R, 1>(a, w, n, t, y, ldy);
}

template <class L>
void rows(const QuantizedActs& a, const void* wp, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  const auto* w = static_cast<const uint8_t*>(wp);
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) token_tiles<L, 4>(a, w, n, y, ldy);
  for (; n < n1; ++n) token_tiles<L, 1>(a, w, n, y, ldy);
}

}  // namespace

void matmul_rows_int8_few_avx512(const QuantizedActs& a, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                                 int64_t ldy) {
  DM_CHECK(!a.token_lanes && a.K % 64 == 0, "int8 decode matmul: K = ", a.K, " must be a multiple of 64");
  switch (wt) {
    case DType::kQ8_0: return rows<Q8_0Loader>(a, w, n0, n1, y, ldy);
    case DType::kQ4_0: return rows<Q4_0Loader>(a, w, n0, n1, y, ldy);
    case DType::kQ5_0: return rows<Q5_0Loader>(a, w, n0, n1, y, ldy);
    case DType::kQ4_1: return rows<Q4_1Loader>(a, w, n0, n1, y, ldy);
    case DType::kQ5_1: return rows<Q5_1Loader>(a, w, n0, n1, y, ldy);
    case DType::kQ2_K: return rows<Q2_KLoader>(a, w, n0, n1, y, ldy);
    case DType::kQ3_K: return rows<Q3_KLoader>(a, w, n0, n1, y, ldy);
    case DType::kQ4_K: return rows<Q4_KLoader>(a, w, n0, n1, y, ldy);
    case DType::kQ5_K: return rows<Q5_KLoader>(a, w, n0, n1, y, ldy);
    case DType::kQ6_K: return rows<Q6_KLoader>(a, w, n0, n1, y, ldy);
    default: break;
  }
  fail(ErrorKind::kInternal, "int8 decode matmul: no loader for ", dtype_name(wt));
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
