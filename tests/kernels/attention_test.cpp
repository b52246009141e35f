// Attention's AVX-512 inner loops against the scalar twin, through attention() on odd head sizes (masked
// tails), KV cache offsets (keys in blocks of 16 and tails) and grouped heads: outputs and log-sum-exp within float
// rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "devops_model/kernels/ops.h"
#include "kernels/attention_isa.h"
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

// The prefill path (16+ queries: blocks of queries as two small GEMMs) against the scalar per-query loops:
// token tiles of 6 and their tails, key panels of 64 and their tails, a KV cache offset, grouped heads, and a
// cache long enough to shrink the query blocks below 64.
TEST(Attention, Avx512QueryBlocksMatchTheScalarTwin) {
  if (static_cast<int>(best_isa()) < static_cast<int>(Isa::kAvx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-1, 1);
  const Isa saved = active_isa();
  struct Case {
    int64_t T, pos0, D;
  };
  for (const Case& c : {Case{16, 0, 64}, Case{40, 0, 64}, Case{77, 37, 80}, Case{130, 3, 128}, Case{23, 200, 200},
                        Case{20, 20000, 8}}) {
    const int64_t H = 4, KV = 2, S = c.pos0 + c.T, stride = KV * c.D + 3;
    std::vector<float> q(static_cast<size_t>(c.T * H * c.D)), k(static_cast<size_t>(S * stride)), v(k.size());
    for (auto* vec : {&q, &k, &v})
      for (auto& x : *vec) x = 2.0f * u(rng);
    std::vector<float> want(q.size()), got(q.size()), lse_want(static_cast<size_t>(H * c.T)), lse_got(lse_want.size());
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.D));
    set_active_isa(Isa::kScalar);
    attention(q.data(), c.T, H, KV, c.D, k.data(), v.data(), stride, c.pos0, scale, want.data(), lse_want.data());
    set_active_isa(Isa::kAvx512);
    attention(q.data(), c.T, H, KV, c.D, k.data(), v.data(), stride, c.pos0, scale, got.data(), lse_got.data());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5f) << "T=" << c.T << " i=" << i;
    for (size_t i = 0; i < lse_want.size(); ++i) ASSERT_NEAR(lse_got[i], lse_want[i], 1e-5f) << "T=" << c.T;
  }
  set_active_isa(saved);
}

// The block kernels give every row the bits of the one-query loops (a query's result does not depend on the block
// it fell in): consecutive queries (step 1) and a group of heads at one position (step 0), row tiles of 4 and 3
// and their tails, key groups of 4 and their tails, head sizes with masked tails.
TEST(Attention, BlockKernelsGiveEachQueryTheOneQueryBits) {
  if (static_cast<int>(best_isa()) < static_cast<int>(Isa::kAvx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  std::mt19937 rng(14);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t step : {0, 1})
    for (int64_t D : {8, 16, 64, 80, 128, 200})
      for (int64_t rows : {1, 2, 3, 4, 5, 7, 13, 64})
        for (int64_t n0 : {1, 2, 37, 64, 65, 130}) {
          const std::string at = "step=" + std::to_string(step) + " D=" + std::to_string(D) +
                                 " rows=" + std::to_string(rows) + " n0=" + std::to_string(n0);
          const int64_t n_all = n0 + (rows - 1) * step, stride = D + 5, ldq = D + 3, lds = n_all + 7, ldo = D + 1;
          std::vector<float> q(static_cast<size_t>(rows * ldq)), k(static_cast<size_t>(n_all * stride)), v(k.size());
          std::vector<float> weight(static_cast<size_t>(rows));
          for (auto* vec : {&q, &k, &v, &weight})
            for (auto& x : *vec) x = u(rng);
          std::vector<float> S(static_cast<size_t>(rows * lds)), P(S.size()), o(static_cast<size_t>(rows * ldo));
          kernels::attention_block_scores_avx512(q.data(), ldq, rows, k.data(), stride, D, n0, step, 0.125f, S.data(),
                                                 lds);
          for (auto& x : P) x = u(rng);
          std::vector<float> P_block = P;
          kernels::attention_block_values_avx512(P_block.data(), lds, rows, weight.data(), v.data(), stride, D, n0,
                                                 step, o.data(), ldo);
          std::vector<float> want_s(static_cast<size_t>(n_all)), want_o(static_cast<size_t>(D));
          for (int64_t i = 0; i < rows; ++i) {
            const int64_t n = n0 + i * step;
            kernels::attention_scores_avx512(q.data() + i * ldq, k.data(), stride, D, n, 0.125f, want_s.data());
            for (int64_t s = 0; s < n; ++s) ASSERT_EQ(S[i * lds + s], want_s[s]) << at << " i=" << i;
            kernels::attention_accumulate_avx512(P.data() + i * lds, weight[i], v.data(), stride, D, n, want_o.data());
            for (int64_t d = 0; d < D; ++d) ASSERT_EQ(o[i * ldo + d], want_o[d]) << at << " i=" << i;
          }
        }
}

}  // namespace
}  // namespace dm
