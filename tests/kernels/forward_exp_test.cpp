// The forward's exp-bound loops: each AVX-512 loop (polynomial exp) against its std::exp twin.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "devops_model/kernels/matmul.h"
#include "kernels/forward_exp_isa.h"

namespace dm {
namespace {

std::vector<float> uniform(int64_t n, std::mt19937& rng, float range) {
  std::uniform_real_distribution<float> u(-range, range);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

// Rows of 1 to 70 scores (masked tails, one vector, several), scores spread so that exps span e^-60..1.
TEST(ForwardExp, SoftmaxRowSimdMatchesTwin) {
  if (best_isa() < Isa::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU: only the scalar twin runs";
  std::mt19937 rng(9);
  for (int64_t n : {1, 7, 16, 17, 45, 70}) {
    std::vector<float> p1 = uniform(n, rng, 30.f), p2 = p1;
    float m1 = 0, m2 = 0;
    const double sum1 = kernels::softmax_row_scalar(p1.data(), n, &m1);
    const double sum2 = kernels::softmax_row_avx512(p2.data(), n, &m2);
    EXPECT_EQ(m2, m1) << "n " << n;
    EXPECT_NEAR(sum2, sum1, 1e-6 * sum1) << "n " << n;
    for (int64_t s = 0; s < n; ++s) EXPECT_NEAR(p2[s], p1[s], 1e-6f * p1[s] + 1e-37f) << "n " << n << " key " << s;
  }
  // A NaN score: the max skips it, its exp and the sum are NaN, as the twin's.
  std::vector<float> p1 = uniform(20, rng, 5.f);
  p1[17] = NAN;
  std::vector<float> p2 = p1;
  float m1 = 0, m2 = 0;
  const double sum1 = kernels::softmax_row_scalar(p1.data(), 20, &m1);
  const double sum2 = kernels::softmax_row_avx512(p2.data(), 20, &m2);
  EXPECT_EQ(m2, m1);
  EXPECT_TRUE(std::isnan(sum1) && std::isnan(sum2) && std::isnan(p2[17]));
}

// Gates from -100 to 100 (exp's clamped ends included) and a masked tail.
TEST(ForwardExp, SwigluSimdMatchesTwin) {
  if (best_isa() < Isa::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU: only the scalar twin runs";
  std::mt19937 rng(10);
  std::vector<float> g = uniform(1000, rng, 8.f), up = uniform(1000, rng, 2.f);
  for (float x : {-100.f, -88.f, -30.f, 0.f, 30.f, 88.f, 100.f}) g.push_back(x), up.push_back(1.5f);
  const int64_t n = static_cast<int64_t>(g.size());
  std::vector<float> o1(g.size()), o2(g.size(), -1.f);
  kernels::swiglu_scalar(g.data(), up.data(), n, o1.data());
  kernels::swiglu_avx512(g.data(), up.data(), n, o2.data());
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(o2[i], o1[i], 1e-6f * (std::abs(o1[i]) + 1e-30f)) << i << " gate " << g[i];
}

}  // namespace
}  // namespace dm
