#include "coordinator/job_result.h"

#include <algorithm>

#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::coordinator {

namespace {

// Adds a node's series into the job's, point by point.
absl::Status AddSeries(const v1::NodeShare& share, v1::JobResult* result) {
  if (result->series_size() == 0) {
    result->set_series_interval(share.series_interval());
    *result->mutable_series() = share.series();
    return absl::OkStatus();
  }
  const bool same_shape =
      share.series_size() == result->series_size() && share.series_interval() == result->series_interval();
  for (int i = 0; same_shape && i < share.series_size(); ++i) {
    const v1::TimeSeries& part = share.series(i);
    v1::TimeSeries& total = *result->mutable_series(i);
    if (part.name() != total.name() || part.values_size() != total.values_size()) {
      return absl::InternalError(StrCat("rank ", share.rank(), " reported series '", part.name(),
                                        "' unlike rank 0's '", total.name(), "'"));
    }
    for (int k = 0; k < part.values_size(); ++k) total.set_values(k, total.values(k) + part.values(k));
  }
  if (!same_shape) {
    return absl::InternalError(StrCat("rank ", share.rank(), " reported ", share.series_size(),
                                      " series, rank 0 reported ", result->series_size()));
  }
  return absl::OkStatus();
}

void AddOptimistic(const v1::OptimisticStats& node, v1::OptimisticStats* job) {
  job->set_events_run(job->events_run() + node.events_run());
  job->set_rolled_back(job->rolled_back() + node.rolled_back());
  job->set_rollbacks(job->rollbacks() + node.rollbacks());
  job->set_anti_messages_sent(job->anti_messages_sent() + node.anti_messages_sent());
  job->set_anti_messages_received(job->anti_messages_received() + node.anti_messages_received());
  job->set_gvt_rounds(std::max(job->gvt_rounds(), node.gvt_rounds()));
  job->set_peak_saved_bytes(std::max(job->peak_saved_bytes(), node.peak_saved_bytes()));
}

void AddMemory(const v1::MemoryStats& node, v1::MemoryStats* job) {
  job->set_peak_rss_bytes(job->peak_rss_bytes() + node.peak_rss_bytes());
  job->set_lp_state_bytes(job->lp_state_bytes() + node.lp_state_bytes());
  job->set_lp_record_bytes(job->lp_record_bytes() + node.lp_record_bytes());
  job->set_pending_event_bytes(job->pending_event_bytes() + node.pending_event_bytes());
  job->set_saved_state_bytes(job->saved_state_bytes() + node.saved_state_bytes());
  job->set_kernel_bytes(job->kernel_bytes() + node.kernel_bytes());
}

}  // namespace

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
    v1::MailboxCounters* mailboxes = result.mutable_mailboxes();
    mailboxes->set_posts(mailboxes->posts() + share.mailboxes().posts());
    mailboxes->set_deliveries(mailboxes->deliveries() + share.mailboxes().deliveries());
    mailboxes->set_remote_events(mailboxes->remote_events() + share.mailboxes().remote_events());
    MESHSIM_RETURN_IF_ERROR(AddSeries(share, &result));
    if (share.has_optimistic()) AddOptimistic(share.optimistic(), result.mutable_optimistic());
    if (share.has_memory()) AddMemory(share.memory(), result.mutable_memory());
    // The job result carries the totals; each node's series would repeat them in part.
    share.clear_series();
    *result.add_nodes() = std::move(share);
  }
  if (result.wall_seconds() > 0) {
    result.set_event_rate(static_cast<double>(result.committed_events()) / result.wall_seconds());
  }
  return result;
}

}  // namespace meshsim::coordinator
