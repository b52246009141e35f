#include "devops_model/core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "devops_model/core/error.h"

namespace dm {

TEST(DType, Bf16RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is exactly half-way between two bf16 values: ties to even (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, F16RoundTrip) {
  for (float v : {0.0f, 1.0f, -1.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.33325195f}) {
    EXPECT_EQ(f16_to_f32(f32_to_f16(v)), v) << v;
  }
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
}

TEST(DType, ParseNames) {
  DType t;
  ASSERT_TRUE(parse_dtype("BF16", &t));
  EXPECT_EQ(t, DType::kBF16);
  EXPECT_EQ(dtype_size(t), 2u);
  EXPECT_FALSE(parse_dtype("Q9_9", &t));
}

}  // namespace dm

namespace dm {
namespace {

TEST(Q8, HandBlockScaleAndRounding) {
  std::vector<float> x(kQ8Block);
  for (int64_t j = 0; j < kQ8Block; ++j) x[size_t(j)] = static_cast<float>(j - 16) * 0.5f;  // -8 .. 7.5
  std::vector<uint8_t> b(kQ8_0BlockBytes);
  quantize_q8_0(x.data(), b.data(), x.size());
  uint16_t h;
  std::memcpy(&h, b.data(), 2);
  const float d = f16_to_f32(h);
  EXPECT_EQ(h, f32_to_f16(8.0f / 127.0f));  // max |x| maps to 127; the scale is stored as f16
  const auto* q = reinterpret_cast<const int8_t*>(b.data() + 2);
  EXPECT_EQ(q[0], -127);  // -8
  EXPECT_EQ(q[16], 0);
  EXPECT_EQ(q[17], 8);    // 0.5 / (8/127) = 7.94 -> 8
  EXPECT_EQ(q[31], 119);  // 7.5 * 127 / 8 = 119.06
  std::vector<float> back(x.size());
  convert_to_f32(DType::kQ8_0, b.data(), back.data(), back.size());
  for (size_t j = 0; j < x.size(); ++j) EXPECT_LE(std::fabs(back[j] - x[j]), d / 2 * 1.0001f) << j;
}

TEST(Q8, ZeroBlockAndSizes) {
  std::vector<float> x(2 * kQ8Block, 0.f);
  x[40] = -3.f;  // second block only
  std::vector<uint8_t> b(dtype_bytes(DType::kQ8_0, 64));
  EXPECT_EQ(b.size(), 68u);
  quantize_q8_0(x.data(), b.data(), x.size());
  std::vector<float> back(x.size());
  convert_to_f32(DType::kQ8_0, b.data(), back.data(), back.size());
  for (size_t j = 0; j < x.size(); ++j)  // 0 stays 0; the block's maximum is exact up to the f16 scale
    if (j != 40) {
      EXPECT_EQ(back[j], 0.f) << j;
    }
  EXPECT_NEAR(back[40], -3.f, 3.f / 1024);
  EXPECT_THROW(dtype_bytes(DType::kQ8_0, 33), Error);
  DType t;
  EXPECT_FALSE(parse_dtype("Q8_0", &t));  // a GGUF type, never a safetensors dtype
  EXPECT_STREQ(dtype_name(DType::kQ8_0), "Q8_0");
}

}  // namespace
}  // namespace dm
