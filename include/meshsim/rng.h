// Per-LP random streams. Each LP owns a SplitMix64 generator whose start
// state and odd increment ("gamma") are both derived from (seed, lp), the
// way SplittableRandom splits streams: no shared generator, so what an LP
// draws does not depend on which node runs it or in what order LPs run.
#pragma once

#include <cmath>
#include <cstdint>

#include "meshsim/event.h"

namespace meshsim::sim {

// SplitMix64's finalizer (Stafford variant 13): a bijective 64-bit mixer.
constexpr uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  Rng() = default;
  static Rng ForLp(uint64_t seed, LpId lp) {
    Rng rng;
    const uint64_t key = Mix64(seed ^ Mix64(0x6a09e667f3bcc909ULL + lp));
    rng.state_ = Mix64(key);
    rng.gamma_ = Mix64(key ^ 0x9e3779b97f4a7c15ULL) | 1;  // odd: full 2^64 period
    return rng;
  }

  uint64_t Next() {
    state_ += gamma_;
    return Mix64(state_);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Exponential with the given mean (> 0).
  double Exponential(double mean) { return -mean * std::log1p(-Uniform()); }
  // Uniform integer in [0, n), n > 0, without modulo bias (Lemire).
  uint64_t Below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    auto low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // A stream as a checkpoint saved it. `gamma` must be odd.
  static Rng FromState(uint64_t state, uint64_t gamma) {
    Rng rng;
    rng.state_ = state;
    rng.gamma_ = gamma | 1;
    return rng;
  }

  uint64_t state() const { return state_; }
  uint64_t gamma() const { return gamma_; }

 private:
  uint64_t state_ = 0;
  uint64_t gamma_ = 1;
};

}  // namespace meshsim::sim
