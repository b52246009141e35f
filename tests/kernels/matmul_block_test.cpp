// The SIMD matmuls over ggml block types (kernels/block_decode.h, block_matmul.h) against the scalar
// kernel (convert_to_f32 = dequantize_row, then an f32 dot product), for every block type and every ISA
// this CPU runs: the decoders' weights bit for bit, the products within 1e-5 of sum |x*w| (they differ in
// summation order and, for T == 1, in where the block scale is applied).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/core/quant.h"
#include "kernels/matmul_isa.h"

namespace dm {
namespace {

const DType kBlockTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                             DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<Isa> simd_isas() {
  std::vector<Isa> out;
  if (static_cast<int>(best_isa()) >= static_cast<int>(Isa::kAvx2)) out.push_back(Isa::kAvx2);
  if (static_cast<int>(best_isa()) >= static_cast<int>(Isa::kAvx512)) out.push_back(Isa::kAvx512);
  return out;
}

// Byte offsets of a block's f16 fields (d, and m / dmin where the type has one): ggml-common.h.
std::vector<size_t> f16_fields(DType t) {
  switch (t) {
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K: return {0, 2};
    case DType::kQ2_K: return {80, 82};
    case DType::kQ3_K: return {108};
    case DType::kQ6_K: return {208};
    default: return {0};
  }
}

// n / block random blocks: every quant and sub-block scale bit pattern is possible; the f16 fields are
// small finite values of either sign (random bits there could be Inf or NaN).
std::vector<uint8_t> random_blocks(DType t, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> w(dtype_bytes(t, n));
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> mag(0.001f, 0.05f);
  for (size_t blk = 0; blk < w.size(); blk += dtype_block_bytes(t)) {
    for (size_t off : f16_fields(t)) {
      const uint16_t h = f32_to_f16((rng() & 1 ? -1.0f : 1.0f) * mag(rng));
      std::memcpy(w.data() + blk + off, &h, 2);
    }
  }
  return w;
}

// n weights quantized by ggml's reference quantizer, blocks with different ranges.
std::vector<uint8_t> quantized_blocks(DType t, int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> f(static_cast<size_t>(n));
  for (auto& v : f) v = u(rng) * (1.0f + 3.0f * u(rng));
  std::vector<uint8_t> w(dtype_bytes(t, n));
  quantize_row(t, f.data(), w.data(), n);
  return w;
}

void decode_row(Isa isa, DType t, const void* src, float* dst, int64_t n) {
  if (isa == Isa::kAvx512) return kernels::decode_row_avx512(t, src, dst, n);
  kernels::decode_row_avx2(t, src, dst, n);
}

class MatmulBlockTest : public testing::TestWithParam<DType> {};

TEST_P(MatmulBlockTest, SimdDecodeIsBitIdenticalToDequantizeRow) {
  const DType t = GetParam();
  if (simd_isas().empty()) GTEST_SKIP() << "no SIMD ISA on this CPU";
  std::mt19937 rng(11);
  const int64_t n = 8 * dtype_block_size(t);
  for (const auto& w : {random_blocks(t, n, rng), quantized_blocks(t, n, rng)}) {
    std::vector<float> want(static_cast<size_t>(n));
    dequantize_row(t, w.data(), want.data(), n);
    for (Isa isa : simd_isas()) {
      std::vector<float> got(want.size(), -1.0f);
      decode_row(isa, t, w.data(), got.data(), n);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0)
            << isa_name(isa) << " " << dtype_name(t) << " weight " << i << ": " << got[i] << " vs " << want[i];
    }
  }
}

// Scalar reference: the product with the dequantized weights, plus sum |x*w| for the tolerance.
void reference(const float* x, int64_t T, int64_t N, int64_t K, DType t, const void* w, std::vector<float>& y,
               std::vector<double>& mag) {
  y.assign(static_cast<size_t>(T * N), 0.0f);
  kernels::matmul_rows_scalar(x, T, K, t, w, 0, N, y.data(), N);
  std::vector<float> deq(static_cast<size_t>(N * K));
  dequantize_row(t, w, deq.data(), N * K);
  mag.assign(y.size(), 0.0);
  for (int64_t r = 0; r < T; ++r)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k)
        mag[static_cast<size_t>(r * N + n)] += std::fabs(double(x[r * K + k]) * deq[static_cast<size_t>(n * K + k)]);
}

TEST_P(MatmulBlockTest, SimdMatchesScalarOnTileRemainders) {
  const DType t = GetParam();
  if (simd_isas().empty()) GTEST_SKIP() << "no SIMD ISA on this CPU";
  const int64_t bs = dtype_block_size(t);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  const Isa saved = active_isa();
  for (int64_t K : {bs, 3 * bs, bs == 32 ? 32 * bs : 2 * bs})
    for (int64_t T : {1, 3, 17})
      for (int64_t N : {1, 8, 37}) {
        // +1 float of slack so x starts misaligned; the weights start at an odd address.
        std::vector<float> x(static_cast<size_t>(T * K + 1));
        for (auto& v : x) v = u(rng);
        const float* xp = x.data() + 1;
        const bool random = (K + T + N) % 2 == 0;
        const std::vector<uint8_t> wb = random ? random_blocks(t, N * K, rng) : quantized_blocks(t, N * K, rng);
        std::vector<uint8_t> wbuf(wb.size() + 1);
        std::memcpy(wbuf.data() + 1, wb.data(), wb.size());
        const void* wp = wbuf.data() + 1;
        std::vector<float> want;
        std::vector<double> mag;
        reference(xp, T, N, K, t, wp, want, mag);
        for (Isa isa : simd_isas()) {
          std::vector<float> got(want.size(), 0.0f), split(want.size(), 0.0f);
          set_active_isa(isa);
          matmul(xp, T, TensorView{t, {N, K}, wp}, TensorView{}, got.data());
          // Two row ranges, as the threaded driver may split them.
          matmul_rows(isa, xp, T, K, t, wp, 0, N / 2, split.data(), N);
          matmul_rows(isa, xp, T, K, t, wp, N / 2, N, split.data(), N);
          for (size_t i = 0; i < want.size(); ++i) {
            const double tol = 1e-5 * mag[i] + 1e-30;
            ASSERT_NEAR(got[i], want[i], tol) << isa_name(isa) << " " << dtype_name(t) << " T=" << T << " N=" << N
                                              << " K=" << K << " i=" << i << (random ? " random" : " quantized");
            ASSERT_EQ(split[i], got[i]) << isa_name(isa) << " split rows, i=" << i;
          }
        }
      }
  set_active_isa(saved);
}

TEST_P(MatmulBlockTest, ScalarKernelIsTheDequantizedProduct) {
  const DType t = GetParam();
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t T = 3, N = 5, K = 2 * dtype_block_size(t);
  std::vector<float> x(static_cast<size_t>(T * K));
  for (auto& v : x) v = u(rng);
  const std::vector<uint8_t> w = quantized_blocks(t, N * K, rng);
  std::vector<float> deq(static_cast<size_t>(N * K)), want(static_cast<size_t>(T * N)), got(want.size());
  dequantize_row(t, w.data(), deq.data(), N * K);
  kernels::matmul_rows_scalar(x.data(), T, K, DType::kF32, deq.data(), 0, N, want.data(), N);
  kernels::matmul_rows_scalar(x.data(), T, K, t, w.data(), 0, N, got.data(), N);
  EXPECT_EQ(got, want);
}

TEST_P(MatmulBlockTest, PartialBlockKIsAnError) {
  const DType t = GetParam();
  const int64_t K = dtype_block_size(t) + 16, N = 2;
  std::vector<uint8_t> w(dtype_bytes(t, 2 * dtype_block_size(t)) * N);  // room enough; never read
  std::vector<float> x(static_cast<size_t>(K)), y(static_cast<size_t>(N));
  try {
    matmul(x.data(), 1, TensorView{t, {N, K}, w.data()}, TensorView{}, y.data());
    FAIL() << "K=" << K << " accepted for " << dtype_name(t);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dtype_name(t)), std::string::npos) << msg;
    EXPECT_NE(msg.find("K = " + std::to_string(K)), std::string::npos) << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(BlockTypes, MatmulBlockTest, testing::ValuesIn(kBlockTypes),
                         [](const auto& i) { return std::string(dtype_name(i.param)); });

}  // namespace
}  // namespace dm
