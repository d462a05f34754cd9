// The bound on optimism a scenario sets (scenario: optimism) and the
// kernel enforces (Kernel::EnableRollback).
#pragma once

#include <cstddef>
#include <limits>

namespace meshsim::sim {

// How far a kernel under optimistic synchronization may run ahead of GVT
// (global virtual time, below which nothing can be rolled back any more).
struct OptimismBound {
  // Virtual time past GVT: only events earlier than GVT + time_window run.
  double time_window = std::numeric_limits<double>::infinity();
  // Processed events kept for undoing at most: once this many are kept,
  // only events at GVT run (always safe for the earliest of them, so a run
  // completes under any bound, with the same result).
  size_t max_saved_events = size_t{1} << 20;
};

}  // namespace meshsim::sim
