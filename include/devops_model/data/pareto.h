// GPT-3 Pareto sampling: keep a paragraph iff pareto(alpha) > 1 - score, with a random stream that
// reproduces numpy's legacy `np.random.seed(k); np.random.pareto(alpha)` bit for bit.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>

namespace dm::data {

// numpy.random.RandomState(seed) for the draws we need: mt19937 seeded like numpy's legacy integer
// seed, 53-bit doubles from two 32-bit words (random_sample), Exp(1) = -log(1 - u), and
// pareto(a) = exp(Exp(1) / a) - 1 (numpy's legacy code uses exp()-1, not expm1).
class NumpyRandomState {
 public:
  explicit NumpyRandomState(uint32_t seed) : g_(seed) {}
  double random_sample() {
    uint32_t a = g_() >> 5, b = g_() >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }
  double standard_exponential() { return -std::log(1.0 - random_sample()); }
  double pareto(double alpha) { return std::exp(standard_exponential() / alpha) - 1.0; }

 private:
  std::mt19937 g_;
};

// The rule itself: one pareto draw per call, in call order.
inline bool pareto_keep(NumpyRandomState& rng, double alpha, double score) { return rng.pareto(alpha) > 1.0 - score; }

// Closed form P(keep | score) = (2 - score)^(-alpha) (Lomax tail).
inline double pareto_keep_probability(double alpha, double score) { return std::pow(2.0 - score, -alpha); }

}  // namespace dm::data
