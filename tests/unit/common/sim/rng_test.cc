#include "meshsim/rng.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"

namespace meshsim::sim {
namespace {

TEST(RngTest, SameSeedAndLpGiveTheSameStream) {
  Rng a = Rng::ForLp(42, 7);
  Rng b = Rng::ForLp(42, 7);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.Next(), b.Next());
}

TEST(RngTest, DifferentLpsAndSeedsGiveDifferentStreams) {
  std::set<uint64_t> firsts;
  for (LpId lp = 0; lp < 1000; ++lp) firsts.insert(Rng::ForLp(42, lp).Next());
  for (uint64_t seed = 0; seed < 1000; ++seed) firsts.insert(Rng::ForLp(seed, 0).Next());
  EXPECT_EQ(firsts.size(), 1999u);  // (42, 0) appears in both loops
}

TEST(RngTest, UniformStaysInTheUnitIntervalWithTheRightMean) {
  Rng rng = Rng::ForLp(1, 1);
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  // Standard error of the mean of U(0,1) is sqrt(1/12/n) ~ 0.00065; 6 sigma.
  EXPECT_NEAR(sum / n, 0.5, 0.004);
}

TEST(RngTest, ExponentialHasTheRequestedMean) {
  Rng rng = Rng::ForLp(3, 9);
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) sum += rng.Exponential(2.5);
  // Standard error: 2.5 / sqrt(n) ~ 0.0056; 6 sigma.
  EXPECT_NEAR(sum / n, 2.5, 0.034);
}

TEST(RngTest, BelowCoversTheRangeEvenly) {
  Rng rng = Rng::ForLp(5, 5);
  std::vector<int> counts(10, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const uint64_t v = rng.Below(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  // Each count is Binomial(n, 0.1): sd = 95; allow 6 sd.
  for (int c : counts) EXPECT_NEAR(c, n / 10, 570);
}

}  // namespace
}  // namespace meshsim::sim
