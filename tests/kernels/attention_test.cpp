// Attention's AVX-512 inner loops against the scalar twin, through attention() on odd head sizes (masked
// tails), KV cache offsets (keys in blocks of 16 and tails) and grouped heads: outputs and log-sum-exp within float
// rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "devops_model/kernels/ops.h"
#include "kernels/matmul_isa.h"

namespace dm {
namespace {

TEST(Attention, Avx512MatchesTheScalarTwin) {
  if (static_cast<int>(best_isa()) < static_cast<int>(Isa::kAvx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> u(-1, 1);
  const Isa saved = active_isa();
  // pos0 37: 38..42 keys, two blocks of 16 keys and a tail.
  for (int64_t pos0 : {6, 37})
    for (int64_t D : {8, 16, 64, 80, 128, 200}) {
      const int64_t T = 5, H = 4, KV = 2, S = pos0 + T, stride = KV * D + 3;  // padded rows
      std::vector<float> q(static_cast<size_t>(T * H * D)), k(static_cast<size_t>(S * stride)), v(k.size());
      for (auto* vec : {&q, &k, &v})
        for (auto& x : *vec) x = 2.0f * u(rng);
      std::vector<float> want(q.size()), got(q.size()), lse_want(static_cast<size_t>(H * T)), lse_got(lse_want.size());
      const float scale = 1.0f / std::sqrt(static_cast<float>(D));
      set_active_isa(Isa::kScalar);
      attention(q.data(), T, H, KV, D, k.data(), v.data(), stride, pos0, scale, want.data(), lse_want.data());
      set_active_isa(Isa::kAvx512);
      attention(q.data(), T, H, KV, D, k.data(), v.data(), stride, pos0, scale, got.data(), lse_got.data());
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5f) << "D=" << D << " i=" << i;
      for (size_t i = 0; i < lse_want.size(); ++i) ASSERT_NEAR(lse_got[i], lse_want[i], 1e-5f) << "D=" << D;
    }
  set_active_isa(saved);
}

}  // namespace
}  // namespace dm
