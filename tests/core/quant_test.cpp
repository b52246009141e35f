// core/quant.h on synthetic rows: quantize -> dequantize error per type, zero and constant rows, extreme
// magnitudes, and the partial-block errors. Bit-exactness against ggml: quant_fixture_test.cpp.
#include "devops_model/core/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "devops_model/core/error.h"

namespace dm {
namespace {

struct TypeBound {
  DType type;
  float rel_rms;  // bound on ||x - x'|| / ||x|| for N(0,1) rows: 1.25x the largest of three seeds' errors
};
// Ordered by bits per value; observed: Q8_0 0.0054, Q6_K 0.0176, Q5_K 0.036, Q5_1 0.038, Q5_0 0.043,
// Q4_K 0.073, Q4_1 0.080, Q4_0 0.086, Q3_K 0.153, Q2_K 0.306.
const TypeBound kTypes[] = {
    {DType::kQ8_0, 0.007f}, {DType::kQ6_K, 0.022f}, {DType::kQ5_K, 0.045f}, {DType::kQ5_1, 0.048f},
    {DType::kQ5_0, 0.054f}, {DType::kQ4_K, 0.091f}, {DType::kQ4_1, 0.10f},  {DType::kQ4_0, 0.108f},
    {DType::kQ3_K, 0.19f},  {DType::kQ2_K, 0.38f},
};

std::vector<float> gaussian(int64_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(dtype_bytes(t, n));
  quantize_row(t, x.data(), q.data(), n);
  std::vector<float> back(x.size());
  dequantize_row(t, q.data(), back.data(), n);
  return back;
}

double rel_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    den += double(x[i]) * x[i];
  }
  return std::sqrt(num / den);
}

constexpr int64_t kRow = 1024;  // 4 K-quant super-blocks, 32 legacy blocks

TEST(Quant, EveryBlockTypeIsQuantizable) {
  for (const auto& tb : kTypes) EXPECT_TRUE(quantizable(tb.type)) << dtype_name(tb.type);
  EXPECT_FALSE(quantizable(DType::kF32));
  EXPECT_FALSE(quantizable(DType::kBF16));
}

TEST(Quant, GaussianRoundTripErrorIsBounded) {
  for (const auto& tb : kTypes) {
    for (uint32_t seed : {1u, 2u, 3u}) {
      const auto x = gaussian(kRow, 1.f, seed);
      const double err = rel_rms_error(x, round_trip(tb.type, x));
      EXPECT_LT(err, tb.rel_rms) << dtype_name(tb.type) << " seed " << seed;
      EXPECT_GT(err, 0.0) << dtype_name(tb.type);
    }
  }
}

// Errors of each type are ordered as its bits: more bits, less error (on the same row).
TEST(Quant, MoreBitsLessError) {
  const auto x = gaussian(kRow, 1.f, 7);
  const double q8 = rel_rms_error(x, round_trip(DType::kQ8_0, x));
  const double q6 = rel_rms_error(x, round_trip(DType::kQ6_K, x));
  const double q5 = rel_rms_error(x, round_trip(DType::kQ5_K, x));
  const double q4 = rel_rms_error(x, round_trip(DType::kQ4_K, x));
  const double q3 = rel_rms_error(x, round_trip(DType::kQ3_K, x));
  const double q2 = rel_rms_error(x, round_trip(DType::kQ2_K, x));
  EXPECT_LT(q8, q6);
  EXPECT_LT(q6, q5);
  EXPECT_LT(q5, q4);
  EXPECT_LT(q4, q3);
  EXPECT_LT(q3, q2);
}

TEST(Quant, ZeroRowDecodesToZeros) {
  const std::vector<float> x(kRow, 0.f);
  for (const auto& tb : kTypes) {
    const auto back = round_trip(tb.type, x);
    for (size_t i = 0; i < back.size(); ++i) ASSERT_EQ(back[i], 0.f) << dtype_name(tb.type) << " at " << i;
  }
}

TEST(Quant, ConstantRowsStayClose) {
  for (float c : {0.37f, -2.5f, 1000.f}) {
    const std::vector<float> x(kRow, c);
    for (const auto& tb : kTypes) {
      const auto back = round_trip(tb.type, x);
      for (size_t i = 0; i < back.size(); ++i)  // an f16 scale's rounding (2^-11) times a few levels
        ASSERT_NEAR(back[i], c, std::fabs(c) * 0.01f) << dtype_name(tb.type) << " c=" << c << " at " << i;
    }
  }
}

// Large and small rows (within f16's range for the block scales): the same relative error. Below about
// 1e-3 the K-quants' super-block scales fall into f16 subnormals and lose precision (as in ggml).
TEST(Quant, HugeAndSmallMagnitudes) {
  for (float sigma : {1e-2f, 1e3f, 1e4f}) {
    const auto x = gaussian(kRow, sigma, 11);
    for (const auto& tb : kTypes) {
      const auto back = round_trip(tb.type, x);
      for (float v : back) ASSERT_TRUE(std::isfinite(v)) << dtype_name(tb.type) << " sigma " << sigma;
      EXPECT_LT(rel_rms_error(x, back), tb.rel_rms * 1.5f) << dtype_name(tb.type) << " sigma " << sigma;
    }
  }
  // One outlier among tiny values: the outlier survives, the rest is swamped but finite.
  auto x = gaussian(kRow, 1e-3f, 12);
  x[100] = 500.f;
  for (const auto& tb : kTypes) {
    const auto back = round_trip(tb.type, x);
    EXPECT_NEAR(back[100], 500.f, 500.f * tb.rel_rms) << dtype_name(tb.type);
    for (float v : back) ASSERT_TRUE(std::isfinite(v)) << dtype_name(tb.type);
  }
}

TEST(Quant, PartialBlocksAndElementTypesAreErrors) {
  std::vector<float> x(512, 1.f), y(512);
  std::vector<uint8_t> q(4096);
  for (const auto& tb : kTypes) {
    const int64_t bad = dtype_block_size(tb.type) + 1;
    EXPECT_THROW(quantize_row(tb.type, x.data(), q.data(), bad), Error) << dtype_name(tb.type);
    EXPECT_THROW(dequantize_row(tb.type, q.data(), y.data(), bad), Error) << dtype_name(tb.type);
    EXPECT_THROW(convert_to_f32(tb.type, q.data(), y.data(), static_cast<size_t>(bad)), Error);
  }
  EXPECT_THROW(quantize_row(DType::kQ4_K, x.data(), q.data(), 128), Error);  // half a super-block
  EXPECT_THROW(quantize_row(DType::kF32, x.data(), q.data(), 32), Error);
  EXPECT_THROW(dequantize_row(DType::kBF16, q.data(), y.data(), 32), Error);
}

// convert_to_f32 is dequantize_row for block types; n = 0 is a no-op.
TEST(Quant, ConvertToF32UsesTheDecoder) {
  const auto x = gaussian(512, 1.f, 5);
  for (const auto& tb : kTypes) {
    std::vector<uint8_t> q(dtype_bytes(tb.type, 512));
    quantize_row(tb.type, x.data(), q.data(), 512);
    std::vector<float> a(512), b(512);
    dequantize_row(tb.type, q.data(), a.data(), 512);
    convert_to_f32(tb.type, q.data(), b.data(), 512);
    EXPECT_EQ(a, b) << dtype_name(tb.type);
    dequantize_row(tb.type, q.data(), a.data(), 0);
  }
}

}  // namespace
}  // namespace dm
