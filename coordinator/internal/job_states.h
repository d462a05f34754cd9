// Small helpers the coordinator's source files share.
#pragma once

#include <chrono>
#include <cstddef>

#include "proto/meshsim.pb.h"

namespace meshsim::coordinator::internal {

// Complete checkpoints kept per job: the newest, and one to fall back on
// when the newest turns out damaged.
inline constexpr size_t kCheckpointsKept = 2;

inline bool Terminal(v1::JobState state) {
  return state == v1::COMPLETED || state == v1::FAILED || state == v1::CANCELLED;
}

inline double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace meshsim::coordinator::internal
