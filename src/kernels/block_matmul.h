// Internal to kernels/: y = x W^T over ggml block-quantized weights, one template for every block type
// (traits from block_decode.h) and both SIMD ISAs (matmul_avx2.cpp, matmul_avx512.cpp pass their vector
// ops). Same include rules as block_decode.h.
// Shape legend: x (T, K) f32, W (N, K) in blocks (K a multiple of the block), y (T, N) with row stride ldy.
//
// Ops (one ISA's vectors): Vec; kLanes floats per Vec; kVecs = 16 / kLanes Vecs per group of 16 weights;
// zero(), load(const float*), store(float*, Vec), set1(float), mul, add, fmadd(a, b, c) = a*b + c, hsum(Vec);
// widen(__m128i or const int8_t*, Vec*): 16 int8 -> kVecs Vecs of f32; tile sizes kDecodeRows (T == 1) and kPrefillRows
// x kPrefillTokens (T > 1).
#pragma once
#include <cstdint>

#include "kernels/block_decode.h"

namespace dm::kernels {
namespace {

// Start of row n (rows are K / kBlock whole blocks).
template <class F>
inline const uint8_t* row_ptr(const uint8_t* w, int64_t K, int64_t n) {
  return w + n * (K / F::kBlock) * static_cast<int64_t>(F::kBytes);
}

// The 16 weights of group g, decoded to dequantize_row's exact values: q*sc (+ mn), one rounding each.
template <class Ops, class F>
inline void decode_group(const uint8_t* blk, const typename F::Scales& s, int g, typename Ops::Vec* w) {
  Ops::widen(F::group(blk, g), w);
  const int sub = static_cast<int>(16 * g / F::kSub);
  const auto sc = Ops::set1(s.sc[sub]);
  for (int v = 0; v < Ops::kVecs; ++v) {
    w[v] = Ops::mul(w[v], sc);
    if constexpr (F::kHasMin) w[v] = Ops::add(w[v], Ops::set1(s.mn[sub]));
  }
}

template <class Ops, int R, int TT>
inline void store_tile(typename Ops::Vec (&acc)[R][TT], float* y, int64_t ldy, int64_t n0, int64_t t0) {
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < TT; ++j) y[(t0 + j) * ldy + n0 + i] = Ops::hsum(acc[i][j]);
}

// Prefill tile (R rows x TT tokens): each weight is decoded once to f32 and used by TT tokens, each x
// vector loaded once and used by R rows. Decoding exactly keeps the inner loop at one FMA per weight
// and token; the result differs from the scalar kernel by summation order only.
template <class Ops, class F, int R, int TT>
void tile_decoded(const float* x, int64_t K, const uint8_t* w, int64_t n0, int64_t t0, float* y, int64_t ldy) {
  using Vec = typename Ops::Vec;
  constexpr int kV = Ops::kVecs;
  Vec acc[R][TT];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < TT; ++j) acc[i][j] = Ops::zero();
  const uint8_t* row[R];
  for (int i = 0; i < R; ++i) row[i] = row_ptr<F>(w, K, n0 + i);
  for (int64_t b = 0; b < K / F::kBlock; ++b) {
    const uint8_t* blk[R];
    typename F::Scales sc[R];
    for (int i = 0; i < R; ++i) {
      blk[i] = row[i] + b * static_cast<int64_t>(F::kBytes);
      F::scales(blk[i], sc[i]);
    }
    const float* xb = x + t0 * K + b * F::kBlock;
    for (int g = 0; g < F::kBlock / 16; ++g) {
      Vec xv[TT][kV];
      for (int j = 0; j < TT; ++j)
        for (int v = 0; v < kV; ++v) xv[j][v] = Ops::load(xb + j * K + 16 * g + v * Ops::kLanes);
      for (int i = 0; i < R; ++i) {
        Vec wv[kV];
        decode_group<Ops, F>(blk[i], sc[i], g, wv);
        for (int j = 0; j < TT; ++j)
          for (int v = 0; v < kV; ++v) acc[i][j] = Ops::fmadd(wv[v], xv[j][v], acc[i][j]);
      }
    }
  }
  store_tile<Ops, R, TT>(acc, y, ldy, n0, t0);
}

// Decode tile (few tokens, memory-bound): the scale is factored out of the inner loop. Per sub-block,
// sum q*x unscaled, then one FMA by the scale, and for types with a min one FMA of the min times the
// sub-block's x (summed once per tile, shared by the R rows): sum(q*sc + mn)*x = sc*sum(q*x) + mn*sum(x).
template <class Ops, class F, int R, int TT>
void tile_factored(const float* x, int64_t K, const uint8_t* w, int64_t n0, int64_t t0, float* y, int64_t ldy) {
  using Vec = typename Ops::Vec;
  constexpr int kG = static_cast<int>(F::kSub / 16);  // groups of 16 per sub-block
  constexpr int kV = kG * Ops::kVecs;                 // Vecs per sub-block
  Vec acc[R][TT];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < TT; ++j) acc[i][j] = Ops::zero();
  const uint8_t* row[R];
  for (int i = 0; i < R; ++i) row[i] = row_ptr<F>(w, K, n0 + i);
  for (int64_t b = 0; b < K / F::kBlock; ++b) {
    const uint8_t* blk[R];
    typename F::Scales sc[R];
    for (int i = 0; i < R; ++i) {
      blk[i] = row[i] + b * static_cast<int64_t>(F::kBytes);
      F::scales(blk[i], sc[i]);
    }
    const float* xb = x + t0 * K + b * F::kBlock;
    for (int s = 0; s < F::kBlock / F::kSub; ++s) {
      Vec xv[TT][kV], xs[TT];
      for (int j = 0; j < TT; ++j) {
        for (int v = 0; v < kV; ++v) xv[j][v] = Ops::load(xb + j * K + s * F::kSub + v * Ops::kLanes);
        if constexpr (F::kHasMin) {
          xs[j] = xv[j][0];
          for (int v = 1; v < kV; ++v) xs[j] = Ops::add(xs[j], xv[j][v]);
        }
      }
      for (int i = 0; i < R; ++i) {
        Vec q[kV];
        for (int gi = 0; gi < kG; ++gi) Ops::widen(F::group(blk[i], s * kG + gi), q + gi * Ops::kVecs);
        const Vec scale = Ops::set1(sc[i].sc[s]);
        for (int j = 0; j < TT; ++j) {
          Vec p = Ops::mul(q[0], xv[j][0]);
          for (int v = 1; v < kV; ++v) p = Ops::fmadd(q[v], xv[j][v], p);
          acc[i][j] = Ops::fmadd(p, scale, acc[i][j]);
          if constexpr (F::kHasMin) acc[i][j] = Ops::fmadd(xs[j], Ops::set1(sc[i].mn[s]), acc[i][j]);
        }
      }
    }
  }
  store_tile<Ops, R, TT>(acc, y, ldy, n0, t0);
}

// Tokens [0, T) of rows [n, n + R): full TT-token tiles, then a 2-token tile (few concurrent sequences in
// a batched decode step), then single tokens. The rows' weights stay in cache across the token tiles.
template <class Ops, class F, int R>
void token_tiles(const float* x, int64_t T, int64_t K, const uint8_t* w, int64_t n, float* y, int64_t ldy) {
  constexpr int TT = Ops::kPrefillTokens;
  int64_t t = 0;
  for (; t + TT <= T; t += TT) tile_decoded<Ops, F, R, TT>(x, K, w, n, t, y, ldy);
  if constexpr (TT > 2) {
    if (t + 2 <= T) {
      tile_decoded<Ops, F, R, 2>(x, K, w, n, t, y, ldy);
      t += 2;
    }
  }
  for (; t < T; ++t) tile_factored<Ops, F, R, 1>(x, K, w, n, t, y, ldy);
}

// Rows [n0, n1) of y = x W^T for block type F, single-threaded.
template <class Ops, class F>
void block_rows(const float* x, int64_t T, int64_t K, const void* wp, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  const auto* w = static_cast<const uint8_t*>(wp);
  int64_t n = n0;
  if (T == 1) {  // decode: many independent row streams, x reused from registers
    constexpr int R = Ops::kDecodeRows;
    for (; n + R <= n1; n += R) tile_factored<Ops, F, R, 1>(x, K, w, n, 0, y, ldy);
    for (; n < n1; ++n) tile_factored<Ops, F, 1, 1>(x, K, w, n, 0, y, ldy);
    return;
  }
  constexpr int R = Ops::kPrefillRows;
  for (; n + R <= n1; n += R) token_tiles<Ops, F, R>(x, T, K, w, n, y, ldy);
  for (; n < n1; ++n) token_tiles<Ops, F, 1>(x, T, K, w, n, y, ldy);
}

// Functors for with_block_type (named structs, not lambdas: the ISA target pragma must reach them).
template <class Ops>
struct BlockRowsFn {
  const float* x;
  int64_t T, K;
  const void* w;
  int64_t n0, n1;
  float* y;
  int64_t ldy;
  template <class F>
  void operator()(F) const {
    block_rows<Ops, F>(x, T, K, w, n0, n1, y, ldy);
  }
};

// n weights (whole blocks) decoded to f32 with dequantize_row's bits (the tests check that).
template <class Ops>
struct BlockDecodeFn {
  const void* src;
  float* dst;
  int64_t n;
  template <class F>
  void operator()(F) const {
    using Vec = typename Ops::Vec;
    for (int64_t b = 0; b < n / F::kBlock; ++b) {
      const uint8_t* blk = static_cast<const uint8_t*>(src) + b * static_cast<int64_t>(F::kBytes);
      typename F::Scales sc;
      F::scales(blk, sc);
      for (int g = 0; g < F::kBlock / 16; ++g) {
        Vec wv[Ops::kVecs];
        decode_group<Ops, F>(blk, sc, g, wv);
        for (int v = 0; v < Ops::kVecs; ++v) Ops::store(dst + b * F::kBlock + 16 * g + v * Ops::kLanes, wv[v]);
      }
    }
  }
};

}  // namespace
}  // namespace dm::kernels
