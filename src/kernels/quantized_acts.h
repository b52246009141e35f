// Internal to kernels/ (and the tests and benches): activations rounded to 8-bit blocks for the integer
// matmul (matmul_int8_avx512.cpp), as llama.cpp rounds them for its Q8_0 dot products
// (quantize_row_q8_0): per 32 elements of a token, d = f16(amax / 127) and q = round-half-even(x * 127 /
// amax), so a matmul sees x_hat = d * q. A block holding a NaN or Inf gets d = NaN (and q = 0), so the
// non-finite value still reaches the logits, where it is caught.
// Two layouts, chosen by the number of tokens:
// - T >= kTokenLanesMinTokens (prefill), for a kernel whose vector lanes are 16 tokens: tokens in groups of
//   16 (the last group padded with zeros), and within a group 4 consecutive elements of each token side by
//   side, stored as q + 128 (unsigned bytes, the operand vpdpbusd multiplies unsigned);
// - fewer tokens (decode), for a kernel whose lanes run along K: each token's q in a row, and per 4
//   elements (one 32-bit lane) the block's d and, on the first lane of every 16 elements, d * their sum of q.
// Shape legend: x (T, K) f32 row-major, K a multiple of 32.
#pragma once
#include <cstdint>
#include <vector>

namespace dm::kernels {

inline constexpr int64_t kActLanes = 16;            // tokens per group
inline constexpr int64_t kActBlock = 32;            // elements per scale
inline constexpr int64_t kTokenLanesMinTokens = 8;  // below this, 16-token lanes would mostly idle

struct QuantizedActs {
  int64_t T = 0, K = 0, groups = 0;  // groups = ceil(T / 16)
  bool token_lanes = true;           // which layout below is filled
  // Token lanes:
  std::vector<uint8_t> q;    // [group][K/4][16][4]: q + 128
  std::vector<float> d;      // [group][K/32][16]: each token's block scale (0 for padding)
  std::vector<float> sum16;  // [group][K/16][16]: d * (sum of q over 16 elements), for types with mins
  // Token rows:
  std::vector<int8_t> rows;     // [T][K]: q
  std::vector<float> lane_d;    // [T][K/4]: d of the block holding elements 4l..4l+3
  std::vector<float> lane_sum;  // [T][K/4]: at l = 4g, d * (sum of q over elements 16g..16g+15); 0 elsewhere

  // The 16 lanes' entries for element k of a group (q_at: 16 x 4 bytes for elements k..k+3).
  int64_t q_index(int64_t group, int64_t k) const { return (group * (K / 4) + k / 4) * kActLanes * 4; }
  int64_t d_index(int64_t group, int64_t k) const { return (group * (K / kActBlock) + k / kActBlock) * kActLanes; }
  int64_t sum16_index(int64_t group, int64_t k) const { return (group * (K / 16) + k / 16) * kActLanes; }
  const uint8_t* q_at(int64_t group, int64_t k) const { return q.data() + q_index(group, k); }
  const float* d_at(int64_t group, int64_t k) const { return d.data() + d_index(group, k); }
  const float* sum16_at(int64_t group, int64_t k) const { return sum16.data() + sum16_index(group, k); }
};

// Rounds x into `out` (reusing its buffers), in parallel over token groups; the per-token rounding runs on
// AVX-512 VNNI CPUs (quantize_token_avx512), else on its scalar twin (quantize_token_scalar): the same bits.
void quantize_acts(const float* x, int64_t T, int64_t K, QuantizedActs& out);

// One token's K values (K a multiple of 32) to int8 q[K] and a scale d per 32, as described above.
void quantize_token_scalar(const float* x, int64_t K, int8_t* q, float* d);
void quantize_token_avx512(const float* x, int64_t K, int8_t* q, float* d);

// x_hat (T, K) = d * q: the values the integer matmul multiplies (the tests' and the scalar twin's input).
std::vector<float> dequantize_acts(const QuantizedActs& a);

}  // namespace dm::kernels
