// Small helpers the coordinator's source files share.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

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

// Records a state change, now, in the job's history.
inline void AppendHistory(v1::JobInfo& job, v1::JobState state, const std::string& reason) {
  v1::JobStateChange* change = job.add_history();
  change->set_state(state);
  change->set_reason(reason);
  change->set_at_unix(WallSeconds());
}

}  // namespace meshsim::coordinator::internal
