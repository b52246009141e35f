// GPT-3 Pareto sampling: bit-exact numpy legacy draws (values from DATA_PIPELINE.md, verified there
// against numpy 1.24.2) and the keep rate against its closed form (2 - s)^-alpha.
#include <gtest/gtest.h>

#include <cmath>

#include "devops_model/data/pareto.h"

using namespace dm::data;

TEST(Pareto, MatchesNumpyLegacyStream) {
  NumpyRandomState r(42);
  EXPECT_NEAR(r.pareto(9.0), 0.0535241724389190, 1e-15);
  EXPECT_NEAR(r.pareto(9.0), 0.397182818483, 1e-12);
  EXPECT_NEAR(r.pareto(9.0), 0.157549275919, 1e-12);
  NumpyRandomState r7(7);
  EXPECT_EQ(r7.pareto(3.0), 0.026812116132444164);  // bit-exact
}

TEST(Pareto, KeepRateMatchesClosedForm) {
  const double kAlpha = 9.0;
  const int kN = 400000;
  for (double s : {1.0, 0.9, 0.8, 0.5, 0.2}) {
    NumpyRandomState r(1234);
    int kept = 0;
    for (int i = 0; i < kN; ++i) kept += pareto_keep(r, kAlpha, s);
    double p = pareto_keep_probability(kAlpha, s);
    double rate = static_cast<double>(kept) / kN;
    double sigma = std::sqrt(p * (1 - p) / kN);
    EXPECT_NEAR(rate, p, 5 * sigma + 1e-12) << "score " << s;
  }
  // The reference table: alpha 9, s 0.9 -> 0.424; alpha 3, s 0.5 -> 0.296.
  EXPECT_NEAR(pareto_keep_probability(9, 0.9), 0.424, 5e-4);
  EXPECT_NEAR(pareto_keep_probability(3, 0.5), 0.296, 5e-4);
}
