// Integer matmul over ggml block-type weights and 8-bit activations (kernels/quantized_acts.h), AVX-512
// VNNI. Vector lanes are 16 tokens: one vpdpbusd multiplies 4 elements of 16 tokens (unsigned q + 128)
// by the same 4 weights broadcast (signed quants, decoded once per row by block_decode.h), so a
// sub-block's float work (its scale, its min) is a few instructions per 16 tokens x 16-32 elements.
// Per sub-block s of row n and token t, exactly in int32:
//   sum_e (q_t[e] + 128) * w[e] - 128 * sum_e w[e] = sum_e q_t[e] * w[e],
// then y[t, n] += float(that) * (sc_s * d_t) (+ mn_s * d_t * sum of q_t over s): the product of the
// dequantized activations d_t * q_t with the dequantized weights, up to float rounding.
// Shape legend: acts (T, K); W (N, K) in blocks; y (T, N) with row stride ldy.
// GCC 12's avx512fintrin.h self-initialises "undefined" vectors and warns about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

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
#include "kernels/prefetch.h"

namespace dm::kernels {

namespace {

constexpr int kTileRows = 4, kTileGroups = 2;  // 4 rows x 32 tokens: 8 int32 + 8 f32 accumulators

// A decoder's group as 16 bytes: Q8_0's is a pointer to them, the others' a vector.
inline __m128i as_bytes(const int8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline __m128i as_bytes(__m128i v) { return v; }
template <class F>
inline __m128i group_bytes(const uint8_t* blk, int g) {
  return as_bytes(F::group(blk, g));
}

// Sum of 16 signed bytes.
inline int sum_i8(__m128i v) {
  const __m128i s = _mm_sad_epu8(_mm_xor_si128(v, _mm_set1_epi8(static_cast<char>(0x80))), _mm_setzero_si128());
  return _mm_cvtsi128_si32(s) + _mm_extract_epi16(s, 4) - 16 * 128;
}

// Up to kTileRows weight rows decoded once and used by every token: signed quants, and per sub-block the
// scale, the min and the offset correction -128 * sum of the quants.
struct DecodedRows {
  int64_t K = 0, subs = 0;
  std::vector<int8_t> q;      // [row][K]
  std::vector<float> sc, mn;  // [row][subs]
  std::vector<int32_t> corr;  // [row][subs]
  DecodedRows(int64_t k, int64_t sub)
      : K(k),
        subs(k / sub),
        q(static_cast<size_t>(kTileRows * k)),
        sc(static_cast<size_t>(kTileRows * subs)),
        mn(sc.size()),
        corr(sc.size()) {}
};

template <class F>
void decode_rows(const uint8_t* w, int64_t n, int rows, DecodedRows& d) {
  constexpr int kSubs = static_cast<int>(F::kBlock / F::kSub);
  const int64_t blocks = d.K / F::kBlock;
  for (int i = 0; i < rows; ++i) {
    const uint8_t* row = w + (n + i) * blocks * static_cast<int64_t>(F::kBytes);
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* blk = row + b * static_cast<int64_t>(F::kBytes);
      typename F::Scales s;
      F::scales(blk, s);
      int sums[kSubs] = {};
      for (int g = 0; g < F::kBlock / 16; ++g) {
        const __m128i v = group_bytes<F>(blk, g);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d.q.data() + i * d.K + b * F::kBlock + 16 * g), v);
        sums[16 * g / F::kSub] += sum_i8(v);
      }
      for (int j = 0; j < kSubs; ++j) {
        const size_t idx = static_cast<size_t>(i * d.subs + b * kSubs + j);
        d.sc[idx] = s.sc[j];
        if constexpr (F::kHasMin) d.mn[idx] = s.mn[j];
        d.corr[idx] = -128 * sums[j];
      }
    }
  }
}

// y for rows [i0, i0 + R) of `d` (weight rows n + i0 ...) and token groups [g0, g0 + G).
template <class F, int R, int G>
void tile(const QuantizedActs& a, const DecodedRows& d, int i0, int64_t n, int64_t g0, float* y, int64_t ldy) {
  __m512 acc[R][G];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < G; ++j) acc[i][j] = _mm512_setzero_ps();
  const int8_t* wq[R];
  for (int i = 0; i < R; ++i) wq[i] = d.q.data() + (i0 + i) * d.K;
  const uint8_t* aq[G];  // element k of group g0 + j: aq[j] + 16 * k (4 elements x 16 lanes per 64 bytes)
  for (int j = 0; j < G; ++j) aq[j] = a.q_at(g0 + j, 0);
  for (int64_t s = 0; s < d.subs; ++s) {
    const int64_t k0 = s * F::kSub;
    __m512i isum[R][G];
    for (int i = 0; i < R; ++i) {
      const __m512i c = _mm512_set1_epi32(d.corr[static_cast<size_t>((i0 + i) * d.subs + s)]);
      for (int j = 0; j < G; ++j) isum[i][j] = c;
    }
#pragma GCC unroll 8
    for (int64_t k = k0; k < k0 + F::kSub; k += 4) {
      __m512i av[G];
      for (int j = 0; j < G; ++j) av[j] = _mm512_loadu_si512(aq[j] + 16 * k);
      for (int i = 0; i < R; ++i) {
        int32_t w4;
        std::memcpy(&w4, wq[i] + k, 4);
        const __m512i wb = _mm512_set1_epi32(w4);
        for (int j = 0; j < G; ++j) isum[i][j] = _mm512_dpbusd_epi32(isum[i][j], av[j], wb);
      }
    }
    __m512 dx[G], xs[G];
    for (int j = 0; j < G; ++j) {
      dx[j] = _mm512_loadu_ps(a.d_at(g0 + j, k0));
      if constexpr (F::kHasMin) {
        xs[j] = _mm512_loadu_ps(a.sum16_at(g0 + j, k0));
        if constexpr (F::kSub == 32) xs[j] = _mm512_add_ps(xs[j], _mm512_loadu_ps(a.sum16_at(g0 + j, k0 + 16)));
      }
    }
    for (int i = 0; i < R; ++i) {
      const size_t idx = static_cast<size_t>((i0 + i) * d.subs + s);
      const __m512 sc = _mm512_set1_ps(d.sc[idx]);
      for (int j = 0; j < G; ++j)
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i][j]), _mm512_mul_ps(sc, dx[j]), acc[i][j]);
      if constexpr (F::kHasMin) {
        const __m512 mn = _mm512_set1_ps(d.mn[idx]);
        for (int j = 0; j < G; ++j) acc[i][j] = _mm512_fmadd_ps(mn, xs[j], acc[i][j]);
      }
    }
  }
  alignas(64) float out[kActLanes];
  for (int j = 0; j < G; ++j) {
    const int64_t t0 = (g0 + j) * kActLanes, lanes = std::min<int64_t>(kActLanes, a.T - t0);
    for (int i = 0; i < R; ++i) {
      _mm512_store_ps(out, acc[i][j]);
      for (int64_t l = 0; l < lanes; ++l) y[(t0 + l) * ldy + n + i0 + i] = out[l];
    }
  }
}

// Every token group for rows [i0, i0 + R) of `d`.
template <class F, int R>
void group_tiles(const QuantizedActs& a, const DecodedRows& d, int i0, int64_t n, float* y, int64_t ldy) {
  int64_t g = 0;
  for (; g + kTileGroups <= a.groups; g += kTileGroups) tile<F, R, kTileGroups>(a, d, i0, n, g, y, ldy);
  for (; g < a.groups; ++g) tile<F, R, 1>(a, d, i0, n, g, y, ldy);
}

template <class F>
void int8_rows(const QuantizedActs& a, const void* wp, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  const auto* w = static_cast<const uint8_t*>(wp);
  DecodedRows d(a.K, F::kSub);
  for (int64_t n = n0; n < n1; n += kTileRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kTileRows, n1 - n));
    decode_rows<F>(w, n, rows, d);
    // The next rows into L1 while every token passes over these: decoding them otherwise waits on DRAM (128-token
    // prefill, 2 Zen 5 cores: Q8_0 Qwen2.5-1.5B 312 -> 346 tok/s, Q4_0 0.5B 1100 -> 1145).
    const int64_t row_bytes = a.K / F::kBlock * static_cast<int64_t>(F::kBytes);
    prefetch_rows(reinterpret_cast<const char*>(w + (n + rows) * row_bytes), row_bytes,
                  std::min<int64_t>(kTileRows, n1 - n - rows), row_bytes);
    if (rows == kTileRows) {
      group_tiles<F, kTileRows>(a, d, 0, n, y, ldy);
    } else {
      for (int i = 0; i < rows; ++i) group_tiles<F, 1>(a, d, i, n, y, ldy);
    }
  }
}

// A named functor for with_block_type: the target pragma must reach its body.
struct Int8RowsFn {
  const QuantizedActs& a;
  const void* w;
  int64_t n0, n1;
  float* y;
  int64_t ldy;
  template <class F>
  void operator()(F) const {
    int8_rows<F>(a, w, n0, n1, y, ldy);
  }
};

}  // namespace

void quantize_token_avx512(const float* x, int64_t K, int8_t* q, float* d) {
  for (int64_t b = 0; b < K / kActBlock; ++b, x += kActBlock, q += kActBlock) {
    const __m512 lo = _mm512_loadu_ps(x), hi = _mm512_loadu_ps(x + 16);
    const __m512 zero = _mm512_setzero_ps();  // x * 0 is NaN exactly where x is NaN or Inf
    if (_mm512_cmp_ps_mask(_mm512_mul_ps(lo, zero), zero, _CMP_NEQ_UQ) |
        _mm512_cmp_ps_mask(_mm512_mul_ps(hi, zero), zero, _CMP_NEQ_UQ)) {
      d[b] = std::numeric_limits<float>::quiet_NaN();
      std::memset(q, 0, kActBlock);
      continue;
    }
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
    // The same scalar steps as quantize_token_scalar, so both give the same bits.
    d[b] = f16_to_f32(f32_to_f16(amax / 127.0f));
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512i qlo = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(lo, id), kNearest));
    const __m512i qhi = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(hi, id), kNearest));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(qlo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(qhi));
  }
}

void matmul_rows_int8_avx512(const QuantizedActs& a, DType wt, const void* w, int64_t n0, int64_t n1, float* y,
                             int64_t ldy) {
  if (!a.token_lanes) return matmul_rows_int8_few_avx512(a, wt, w, n0, n1, y, ldy);
  DM_CHECK(with_block_type(wt, Int8RowsFn{a, w, n0, n1, y, ldy}), "int8 matmul: ", dtype_name(wt),
           " is not a block type");
}

}  // namespace dm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
