// Folds the nodes' shares of a job into the job's result.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "proto/meshsim.pb.h"

namespace meshsim::coordinator {

// INTERNAL when the shares disagree where every node must agree (the number
// of windows), which would mean the window protocol itself broke.
[[nodiscard]] absl::StatusOr<v1::JobResult> AggregateShares(const v1::Scenario& scenario,
                                                            std::vector<v1::NodeShare> shares);

}  // namespace meshsim::coordinator
