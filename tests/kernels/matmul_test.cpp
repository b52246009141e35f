// Every SIMD matmul kernel against the scalar reference, on odd sizes, row ranges and misaligned data,
// for each weight dtype.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/matmul_isa.h"

namespace dm {
namespace {

struct Dims {
  int64_t T, N, K;
};

std::vector<Isa> simd_isas() {
  std::vector<Isa> out;
  if (static_cast<int>(best_isa()) >= static_cast<int>(Isa::kAvx2)) out.push_back(Isa::kAvx2);
  if (static_cast<int>(best_isa()) >= static_cast<int>(Isa::kAvx512)) out.push_back(Isa::kAvx512);
  return out;
}

class MatmulIsaTest : public testing::TestWithParam<DType> {};

TEST_P(MatmulIsaTest, SimdMatchesScalarOnOddShapesAndOffsets) {
  const DType wt = GetParam();
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1, 1);
  if (simd_isas().empty()) GTEST_SKIP() << "no SIMD ISA on this CPU";
  // use_packed_gemm (T x K past 512 KiB of f32 for f32 weights, 1 MiB for 16-bit ones) takes AVX-512's packed
  // GEMM: partial panels, depth blocks with tails, token tails.
  for (Dims d : {Dims{1, 1, 1}, Dims{1, 17, 33}, Dims{3, 9, 15}, Dims{5, 31, 100}, Dims{8, 16, 64}, Dims{13, 45, 129},
                 Dims{1, 67, 257}, Dims{32, 17, 33}, Dims{37, 130, 3600}, Dims{45, 81, 2929}, Dims{64, 64, 2100}, Dims{40, 70, 6600}}) {
    // +1 element of slack so the data can start misaligned.
    std::vector<float> x(static_cast<size_t>(d.T * d.K + 1));
    for (auto& v : x) v = u(rng);
    const size_t esz = dtype_size(wt);
    std::vector<uint8_t> w(static_cast<size_t>(d.N * d.K) * esz + esz);
    for (int64_t i = 0; i < d.N * d.K; ++i) {
      float v = u(rng);
      uint8_t* p = w.data() + esz + static_cast<size_t>(i) * esz;
      if (wt == DType::kF32) {
        std::memcpy(p, &v, 4);
      } else {
        uint16_t h = wt == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
        std::memcpy(p, &h, 2);
      }
    }
    const float* xp = x.data() + 1;   // misaligned by 4 bytes
    const void* wp = w.data() + esz;  // misaligned by one element
    std::vector<float> want(static_cast<size_t>(d.T * d.N), 0.0f);
    kernels::matmul_rows_scalar(xp, d.T, d.K, wt, wp, 0, d.N, want.data(), d.N);
    for (Isa isa : simd_isas()) {
      std::vector<float> got(want.size(), 0.0f);
      // Two row ranges, as the threaded driver splits them.
      int64_t mid = d.N / 2;
      matmul_rows(isa, xp, d.T, d.K, wt, wp, 0, mid, got.data(), d.N);
      matmul_rows(isa, xp, d.T, d.K, wt, wp, mid, d.N, got.data(), d.N);
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::fabs(want[i])) * std::sqrt(double(d.K)))
            << isa_name(isa) << " " << dtype_name(wt) << " T=" << d.T << " N=" << d.N << " K=" << d.K << " i=" << i;
      }
    }
  }
}

// Below the packed GEMM, a token's products do not depend on the tile it falls into (6 x 4, 6 x 1, 8 x 1,
// ...): a batch of tokens gives each token's one-by-one bits (the engine's batch-equals-separate guarantee).
TEST_P(MatmulIsaTest, TokensGiveTheSameBitsAloneAndInABatch) {
  const DType wt = GetParam();
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t T = 7, N = 45, K = 200;
  std::vector<float> x(static_cast<size_t>(T * K));
  for (auto& v : x) v = u(rng);
  std::vector<uint8_t> w(dtype_bytes(wt, N * K));
  for (int64_t i = 0; i < N * K; ++i) {
    const float v = u(rng);
    if (wt == DType::kF32) {
      std::memcpy(w.data() + 4 * i, &v, 4);
    } else {
      const uint16_t h = wt == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
      std::memcpy(w.data() + 2 * i, &h, 2);
    }
  }
  for (Isa isa : simd_isas()) {
    std::vector<float> batch(static_cast<size_t>(T * N)), alone(batch.size());
    matmul_rows(isa, x.data(), T, K, wt, w.data(), 0, N, batch.data(), N);
    for (int64_t t = 0; t < T; ++t) matmul_rows(isa, x.data() + t * K, 1, K, wt, w.data(), 0, N, alone.data() + t * N, N);
    for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], alone[i]) << isa_name(isa) << " i=" << i;
  }
}

// The packed GEMM on its own, at token counts below the driver's threshold too (its contract is any T).
TEST_P(MatmulIsaTest, PackedGemmMatchesScalar) {
  const DType wt = GetParam();
  if (static_cast<int>(best_isa()) < static_cast<int>(Isa::kAvx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  for (Dims d : {Dims{1, 1, 1}, Dims{2, 16, 128}, Dims{7, 49, 257}, Dims{13, 200, 96}, Dims{6, 64, 129}}) {
    std::vector<float> x(static_cast<size_t>(d.T * d.K)), wf(static_cast<size_t>(d.N * d.K));
    for (auto& v : x) v = u(rng);
    for (auto& v : wf) v = u(rng);
    std::vector<uint8_t> w(dtype_bytes(wt, d.N * d.K));
    for (size_t i = 0; i < wf.size(); ++i) {
      if (wt == DType::kF32) {
        std::memcpy(w.data() + 4 * i, &wf[i], 4);
      } else {
        const uint16_t h = wt == DType::kBF16 ? f32_to_bf16(wf[i]) : f32_to_f16(wf[i]);
        std::memcpy(w.data() + 2 * i, &h, 2);
      }
    }
    std::vector<float> want(static_cast<size_t>(d.T * d.N)), got(want.size(), -7.0f);
    kernels::matmul_rows_scalar(x.data(), d.T, d.K, wt, w.data(), 0, d.N, want.data(), d.N);
    kernels::matmul_rows_packed_avx512(x.data(), d.T, d.K, wt, w.data(), 0, d.N, got.data(), d.N);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i])) * std::sqrt(double(d.K)))
          << dtype_name(wt) << " T=" << d.T << " N=" << d.N << " K=" << d.K << " i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(WeightTypes, MatmulIsaTest, testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const auto& i) { return std::string(dtype_name(i.param)); });

// Q8_0 (rows are whole 32-element blocks): the scalar kernel equals an f32 product with the dequantized
// weights, and every SIMD kernel matches the scalar one, on odd row/token counts and misaligned x.
TEST(MatmulQ8, SimdMatchesScalarAndScalarIsTheDequantizedProduct) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (Dims d :
       {Dims{1, 1, 32}, Dims{1, 17, 64}, Dims{3, 9, 96}, Dims{5, 31, 160}, Dims{13, 45, 256}, Dims{1, 67, 896}}) {
    std::vector<float> x(static_cast<size_t>(d.T * d.K + 1)), wf(static_cast<size_t>(d.N * d.K));
    for (auto& v : x) v = u(rng);
    for (auto& v : wf) v = u(rng) * (1.0f + 3.0f * u(rng));  // blocks with different ranges
    std::vector<uint8_t> wq(dtype_bytes(DType::kQ8_0, d.N * d.K));
    quantize_q8_0(wf.data(), wq.data(), wf.size());
    std::vector<float> deq(wf.size());
    convert_to_f32(DType::kQ8_0, wq.data(), deq.data(), deq.size());
    const float* xp = x.data() + 1;
    std::vector<float> want(static_cast<size_t>(d.T * d.N)), got_scalar(want.size());
    kernels::matmul_rows_scalar(xp, d.T, d.K, DType::kF32, deq.data(), 0, d.N, want.data(), d.N);
    kernels::matmul_rows_scalar(xp, d.T, d.K, DType::kQ8_0, wq.data(), 0, d.N, got_scalar.data(), d.N);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got_scalar[i], want[i]) << "scalar i=" << i;
    for (Isa isa : simd_isas()) {
      std::vector<float> got(want.size(), 0.0f);
      const int64_t mid = d.N / 2;
      matmul_rows(isa, xp, d.T, d.K, DType::kQ8_0, wq.data(), 0, mid, got.data(), d.N);
      matmul_rows(isa, xp, d.T, d.K, DType::kQ8_0, wq.data(), mid, d.N, got.data(), d.N);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::fabs(want[i])) * std::sqrt(double(d.K)))
            << isa_name(isa) << " T=" << d.T << " N=" << d.N << " K=" << d.K << " i=" << i;
    }
  }
}

// BF16 weights with bf16 activations (AVX512-BF16): the rounding of x is f32_to_bf16's, the products match
// the scalar twin's over the rounded x, and matmul() takes the path only once asked for and only where
// uses_bf16_pairs_path says (Activations::kF32 keeps the exact f32 product).
TEST(MatmulBf16Pairs, Avx512MatchesTheTwinAndTheDriverTakesItOnlyForFastest) {
  if (!__builtin_cpu_supports("avx512bf16") || best_isa() != Isa::kAvx512Vnni)
    GTEST_SKIP() << "this CPU has no AVX512-BF16";
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-1, 1);
  for (Dims d : {Dims{1, 17, 34}, Dims{6, 64, 256}, Dims{7, 49, 258}, Dims{33, 70, 130}, Dims{37, 130, 3600},
                 Dims{45, 81, 2930}}) {
    std::vector<float> x(static_cast<size_t>(d.T * d.K));
    for (auto& v : x) v = u(rng);
    std::vector<uint16_t> w(static_cast<size_t>(d.N * d.K));
    for (auto& h : w) h = f32_to_bf16(u(rng));
    std::vector<uint32_t> xb(x.size() / 2);
    kernels::round_acts_bf16_pairs_avx512(x.data(), d.T * d.K, xb.data());
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(static_cast<uint16_t>(xb[i / 2] >> (i % 2 ? 16 : 0)), f32_to_bf16(x[i])) << "x " << i;
    std::vector<float> want(static_cast<size_t>(d.T * d.N)), got(want.size(), -7.0f);
    kernels::matmul_rows_bf16_pairs_scalar(xb.data(), d.T, d.K, w.data(), 0, d.N, want.data(), d.N);
    const int64_t mid = d.N / 2;
    kernels::matmul_rows_bf16_pairs_avx512(xb.data(), d.T, d.K, w.data(), 0, mid, got.data(), d.N);
    kernels::matmul_rows_bf16_pairs_avx512(xb.data(), d.T, d.K, w.data(), mid, d.N, got.data(), d.N);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i])) * std::sqrt(double(d.K)))
          << "T=" << d.T << " N=" << d.N << " K=" << d.K << " i=" << i;
    // Through the driver: the fastest activations take the path where it applies; f32 ones never do.
    const TensorView wv{DType::kBF16, {d.N, d.K}, w.data()};
    std::vector<float> exact(want.size()), fastest(want.size()), f32(want.size());
    kernels::matmul_rows_scalar(x.data(), d.T, d.K, DType::kBF16, w.data(), 0, d.N, exact.data(), d.N);
    ASSERT_FALSE(bf16_activations()) << "off by default";
    std::vector<float> by_default(want.size());
    matmul(x.data(), d.T, wv, TensorView{}, by_default.data());
    set_bf16_activations(true);
    matmul(x.data(), d.T, wv, TensorView{}, fastest.data());
    matmul(x.data(), d.T, wv, TensorView{}, f32.data(), Activations::kF32);
    const bool pairs = uses_bf16_pairs_path(active_isa(), DType::kBF16, d.T, d.K);
    set_bf16_activations(false);
    EXPECT_EQ(pairs, d.T >= kPackedMinTokens) << "T=" << d.T << " K=" << d.K;
    double worst_f32 = 0, worst_fastest_vs_exact = 0, worst_fastest_vs_twin = 0, worst_default = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst_default = std::max(worst_default, double(std::fabs(by_default[i] - exact[i])));
      worst_f32 = std::max(worst_f32, double(std::fabs(f32[i] - exact[i])));
      worst_fastest_vs_exact = std::max(worst_fastest_vs_exact, double(std::fabs(fastest[i] - exact[i])));
      worst_fastest_vs_twin = std::max(worst_fastest_vs_twin, double(std::fabs(fastest[i] - want[i])));
    }
    EXPECT_LT(worst_f32, 5e-4) << "T=" << d.T << " K=" << d.K;  // summation order only (sums of ~20)
    EXPECT_LT(worst_default, 5e-4) << "T=" << d.T << " K=" << d.K;
    if (pairs) {
      EXPECT_LT(worst_fastest_vs_twin, 1e-3) << "T=" << d.T << " K=" << d.K;
      EXPECT_GT(worst_fastest_vs_exact, 1e-3) << "bf16 rounding of x should show, T=" << d.T << " K=" << d.K;
    } else {
      EXPECT_LT(worst_fastest_vs_exact, 5e-4) << "T=" << d.T << " K=" << d.K;
    }
  }
}

TEST(Matmul, ThreadedDriverAddsBias) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};           // (2, 3)
  std::vector<float> w = {1, 0, 0, 0, 1, 0, 1, 1, 1};  // (3, 3)
  std::vector<float> b = {10, 20, 30};
  std::vector<float> y(6);
  matmul(x.data(), 2, TensorView{DType::kF32, {3, 3}, w.data()}, TensorView{DType::kF32, {3}, b.data()}, y.data());
  EXPECT_EQ(y, (std::vector<float>{11, 22, 36, 14, 25, 45}));
}

}  // namespace
}  // namespace dm

namespace dm {
namespace {

TEST(Matmul, GroupEqualsSeparateProducts) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t T = 3, K = 37;
  std::vector<float> x(static_cast<size_t>(T * K));
  for (auto& v : x) v = u(rng);
  std::vector<std::vector<uint16_t>> ws;
  std::vector<std::vector<float>> bs;
  for (int64_t N : {5, 33, 17}) {
    std::vector<uint16_t> w(static_cast<size_t>(N * K));
    for (auto& h : w) h = f32_to_bf16(u(rng));
    ws.push_back(w);
    std::vector<float> b(static_cast<size_t>(N));
    for (auto& v : b) v = u(rng);
    bs.push_back(b);
  }
  std::vector<std::vector<float>> sep(3), grp(3);
  std::vector<MatmulTarget> targets;
  for (size_t i = 0; i < 3; ++i) {
    const int64_t N = static_cast<int64_t>(bs[i].size());
    TensorView w{DType::kBF16, {N, K}, ws[i].data()}, b{DType::kF32, {N}, bs[i].data()};
    sep[i].resize(static_cast<size_t>(T * N));
    grp[i].resize(sep[i].size());
    matmul(x.data(), T, w, b, sep[i].data());
    targets.push_back({w, b, grp[i].data()});
  }
  matmul_group(x.data(), T, targets);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(sep[i], grp[i]) << i;
}

}  // namespace
}  // namespace dm
