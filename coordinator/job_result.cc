#include "coordinator/job_result.h"

#include <algorithm>

#include "common/status/format.h"

namespace meshsim::coordinator {

absl::StatusOr<v1::JobResult> AggregateShares(const v1::Scenario& scenario,
                                              std::vector<v1::NodeShare> shares) {
  std::sort(shares.begin(), shares.end(), [](const auto& a, const auto& b) { return a.rank() < b.rank(); });
  v1::JobResult result;
  result.set_end_time(scenario.end_time());
  if (!shares.empty()) result.set_windows(shares.front().windows());
  for (auto& share : shares) {
    if (share.windows() != result.windows()) {
      return absl::InternalError(StrCat("nodes disagree on the window count: rank 0 ran ", result.windows(),
                                        ", rank ", share.rank(), " ran ", share.windows()));
    }
    result.set_committed_events(result.committed_events() + share.committed_events());
    result.set_pending_events(result.pending_events() + share.pending_events());
    // Unsigned sum wraps: the digest is the same whatever the grouping.
    result.set_digest(result.digest() + share.digest());
    result.set_wall_seconds(std::max(result.wall_seconds(), share.loop_seconds()));
    for (const auto& [field, value] : share.summary()) (*result.mutable_summary())[field] += value;
    *result.add_nodes() = std::move(share);
  }
  if (result.wall_seconds() > 0) {
    result.set_event_rate(static_cast<double>(result.committed_events()) / result.wall_seconds());
  }
  return result;
}

}  // namespace meshsim::coordinator
