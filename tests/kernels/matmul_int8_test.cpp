// The integer matmuls (AVX-512 VNNI: kernels/matmul_int8_avx512.cpp for 8+ tokens, every block type;
// matmul_int8_decode_avx512.cpp for fewer, every block type where K is a multiple of 64) against their scalar twin (the f32
// scalar kernel over the dequantized activations), both activation layouts, and the activation rounding
// against llama.cpp's quantize_row_q8_0 written out here independently.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "devops_model/core/dtype.h"
#include "devops_model/core/quant.h"
#include "kernels/matmul_isa.h"
#include "kernels/quantized_acts.h"

namespace dm {
namespace {

const DType kBlockTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                             DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

bool have_vnni() { return static_cast<int>(best_isa()) >= static_cast<int>(Isa::kAvx512Vnni); }

std::vector<float> random_floats(int64_t n, std::mt19937& rng, float scale) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> f(static_cast<size_t>(n));
  for (auto& v : f) v = scale * u(rng) * (1.0f + 3.0f * std::fabs(u(rng)));
  return f;
}

TEST(QuantizedActs, RoundLikeLlamaCppQ8_0) {
  std::mt19937 rng(3);
  const int64_t T = 19, K = 96;
  std::vector<float> x = random_floats(T * K, rng, 2.0f);
  for (int64_t k = 0; k < 32; ++k) x[static_cast<size_t>(2 * K + 32 + k)] = 0.0f;  // an all-zero block
  x[5] = 0.5f * 127.0f / 127.0f;  // values on a rounding tie appear with amax 127 below
  for (int64_t k = 0; k < 32; ++k) x[static_cast<size_t>(3 * K + k)] = k == 0 ? 127.0f : 2.5f;
  kernels::QuantizedActs a;
  kernels::quantize_acts(x.data(), T, K, a);
  ASSERT_EQ(a.groups, 2);
  const std::vector<float> x_hat = kernels::dequantize_acts(a);
  for (int64_t t = 0; t < 2 * kernels::kActLanes; ++t) {
    for (int64_t b = 0; b < K / 32; ++b) {
      const int64_t g = t / kernels::kActLanes, lane = t % kernels::kActLanes;
      float amax = 0;
      for (int64_t k = 0; k < 32 && t < T; ++k)
        amax = std::max(amax, std::fabs(x[static_cast<size_t>(t * K + b * 32 + k)]));
      const float d = f16_to_f32(f32_to_f16(amax / 127.0f)), id = amax != 0 ? 127.0f / amax : 0.0f;
      ASSERT_EQ(a.d_at(g, b * 32)[lane], d) << "t=" << t << " b=" << b;
      int sum16[2] = {0, 0};
      for (int64_t k = 0; k < 32; ++k) {
        const float xv = t < T ? x[static_cast<size_t>(t * K + b * 32 + k)] : 0.0f;
        const int want = static_cast<int>(std::nearbyint(xv * id));
        const int got = static_cast<int>(a.q_at(g, b * 32 + k)[lane * 4 + k % 4]) - 128;
        ASSERT_EQ(got, want) << "t=" << t << " k=" << b * 32 + k;
        sum16[k / 16] += got;
        if (t < T) {
          ASSERT_EQ(x_hat[static_cast<size_t>(t * K + b * 32 + k)], d * static_cast<float>(got));
        }
      }
      for (int h = 0; h < 2; ++h) ASSERT_EQ(a.sum16_at(g, b * 32 + 16 * h)[lane], d * static_cast<float>(sum16[h]));
    }
  }
  // Half-way cases round to even, as _mm256_round_ps does: 2.5 * 127 / 127 = 2.5 -> 2.
  EXPECT_EQ(static_cast<int>(a.q_at(0, 1)[3 * 4 + 1]) - 128, 2);
}

TEST(QuantizedActs, Avx512TokenRoundingIsTheScalarTwinBitForBit) {
  if (!have_vnni()) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  std::mt19937 rng(4);
  const int64_t K = 32 * 40;
  std::vector<float> x = random_floats(K, rng, 3.0f);
  for (int64_t k = 64; k < 96; ++k) x[static_cast<size_t>(k)] = 0.0f;                               // amax 0
  for (int64_t k = 96; k < 128; ++k) x[static_cast<size_t>(k)] = static_cast<float>(k % 7) - 3.0f;  // ties
  x[200] = std::numeric_limits<float>::quiet_NaN();
  x[300] = -std::numeric_limits<float>::infinity();
  std::vector<int8_t> q1(static_cast<size_t>(K)), q2(q1.size(), 1);
  std::vector<float> d1(static_cast<size_t>(K / 32)), d2(d1.size(), 1.0f);
  kernels::quantize_token_scalar(x.data(), K, q1.data(), d1.data());
  kernels::quantize_token_avx512(x.data(), K, q2.data(), d2.data());
  EXPECT_EQ(q1, q2);
  for (size_t b = 0; b < d1.size(); ++b) {
    EXPECT_EQ(std::memcmp(&d1[b], &d2[b], 4), 0) << "block " << b << ": " << d1[b] << " vs " << d2[b];
    EXPECT_EQ(std::isnan(d1[b]), b == 200 / 32 || b == 300 / 32) << "block " << b;  // non-finite stays visible
  }
}

class MatmulInt8Test : public testing::TestWithParam<DType> {};

TEST_P(MatmulInt8Test, Avx512VnniMatchesTheScalarTwin) {
  if (!have_vnni()) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  const DType t = GetParam();
  const int64_t bs = dtype_block_size(t);
  std::mt19937 rng(7);
  for (int64_t K : {bs, 2 * bs, 4 * bs, bs == 32 ? 9 * bs : 3 * bs})
    for (int64_t T : {1, 2, 3, 7, 8, 16, 17, 40})
      for (int64_t N : {1, 5, 13}) {
        // Fewer than 8 tokens: the few-token kernel, for the types and widths it has (else f32 kernels).
        if (!uses_int8_path(Isa::kAvx512Vnni, t, T, K)) {
          EXPECT_LT(T, kernels::kTokenLanesMinTokens);
          continue;
        }
        const std::vector<float> x = random_floats(T * K, rng, 1.0f);
        const std::vector<float> wf = random_floats(N * K, rng, 0.5f);
        // +1 byte so the weights start at an odd address.
        std::vector<uint8_t> wbuf(dtype_bytes(t, N * K) + 1);
        quantize_row(t, wf.data(), wbuf.data() + 1, N * K);
        const void* wp = wbuf.data() + 1;
        kernels::QuantizedActs a;
        kernels::quantize_acts(x.data(), T, K, a);
        std::vector<float> want(static_cast<size_t>(T * N)), got(want.size(), -1.0f), split(want.size(), -1.0f);
        kernels::matmul_rows_int8_scalar(a, t, wp, 0, N, want.data(), N);
        kernels::matmul_rows_int8_avx512(a, t, wp, 0, N, got.data(), N);
        kernels::matmul_rows_int8_avx512(a, t, wp, 0, N / 2, split.data(), N);
        kernels::matmul_rows_int8_avx512(a, t, wp, N / 2, N, split.data(), N);
        const std::vector<float> x_hat = kernels::dequantize_acts(a);
        std::vector<float> deq(static_cast<size_t>(N * K));
        dequantize_row(t, wp, deq.data(), N * K);
        for (int64_t r = 0; r < T; ++r)
          for (int64_t n = 0; n < N; ++n) {
            double mag = 0;
            for (int64_t k = 0; k < K; ++k)
              mag += std::fabs(double(x_hat[static_cast<size_t>(r * K + k)]) * deq[static_cast<size_t>(n * K + k)]);
            const size_t i = static_cast<size_t>(r * N + n);
            ASSERT_NEAR(got[i], want[i], 1e-5 * mag + 1e-30)
                << dtype_name(t) << " T=" << T << " N=" << N << " K=" << K << " t=" << r << " n=" << n;
            ASSERT_EQ(split[i], got[i]) << dtype_name(t) << " split rows, i=" << i;
          }
      }
}

INSTANTIATE_TEST_SUITE_P(BlockTypes, MatmulInt8Test, testing::ValuesIn(kBlockTypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace dm
