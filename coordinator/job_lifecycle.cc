// A job's life in the coordinator: its state changes (stored, logged,
// counted), ending it, recovering it after a lost node, completing it from
// its nodes' shares, and forgetting old finished jobs. All need mutex_.
#include <algorithm>

#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "coordinator/internal/job_states.h"
#include "coordinator/job_result.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {

using internal::Terminal;
using internal::WallSeconds;

v1::JobInfo Coordinator::Snapshot(const JobRecord& job) const {
  v1::JobInfo info = job.info;
  info.clear_reported();  // internal
  if (info.state() == v1::RUNNING || info.state() == v1::ASSIGNING) {
    double slowest = -1;
    uint64_t committed = 0;
    for (uint32_t node_id : info.assigned_nodes()) {
      auto it = nodes_.find(node_id);
      if (it == nodes_.end()) continue;
      const auto& node = it->second;
      const bool reported = HasReported(job, node_id);
      const bool holds = HoldsCurrentAttempt(node, job);
      const double time = reported ? info.scenario().end_time() : (holds ? node.virtual_time : 0);
      slowest = slowest < 0 ? time : std::min(slowest, time);
      committed += holds ? node.committed_events : 0;
    }
    for (const auto& [rank, share] : job.shares) committed += share.committed_events();
    info.set_virtual_time(std::max(0.0, slowest));
    info.set_committed_events(committed);
  }
  return info;
}

bool Coordinator::HasReported(const JobRecord& job, uint32_t node_id) {
  return std::any_of(job.shares.begin(), job.shares.end(),
                     [&](const auto& share) { return share.second.node_id() == node_id; });
}

bool Coordinator::HoldsCurrentAttempt(const NodeRecord& node, const JobRecord& job) const {
  return node.info.job_id() == job.info.job_id() && node.attempt == job.info.attempt();
}

void Coordinator::Persist(JobRecord& job) {
  const absl::Status status = store_->SaveJob(job.info);
  if (status.ok()) {
    job.dirty = false;
    return;
  }
  if (!job.dirty)
    spdlog::error("job {}: cannot store its state (will retry): {}", job.info.job_id(), status.message());
  job.dirty = true;
  metrics_.state_write_failures->Increment();
}

void Coordinator::RetryDirtyJobs() {
  for (auto& [id, job] : jobs_) {
    if (!job.dirty) continue;
    if (!store_->SaveJob(job.info).ok()) return;  // still failing; the next tick tries again
    job.dirty = false;
    spdlog::info("job {}: state stored again", id);
  }
}

void Coordinator::SetJobState(JobRecord& job, v1::JobState state, const std::string& reason) {
  const auto from = job.info.state();
  job.info.set_state(state);
  job.info.set_reason(reason);
  internal::AppendHistory(job.info, state, reason);
  if (Terminal(state)) {
    CountJobEnd(job, state);
    // A finished job is never restored; its history keeps the count.
    job.info.clear_checkpoints();
    job.info.clear_reported();
    job.pending_checkpoints.clear();
    checkpoints_->RemoveJob(job.info.job_id());
  }
  Persist(job);
  if (reason.empty()) {
    spdlog::info("job {}: {} -> {}", job.info.job_id(), JobStateName(from), JobStateName(state));
  } else {
    spdlog::log(state == v1::FAILED || state == v1::RECOVERING ? spdlog::level::warn : spdlog::level::info,
                "job {}: {} -> {}: {}", job.info.job_id(), JobStateName(from), JobStateName(state), reason);
  }
  wake_scheduler_.notify_all();
}

void Coordinator::AbortAssignedNodes(const JobRecord& job, const std::string& reason) {
  for (uint32_t node_id : job.info.assigned_nodes()) {
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) continue;
    const NodeRecord& node = it->second;
    if (node.info.state() != v1::NODE_LOST && !HasReported(job, node_id)) {
      // The node stays BUSY until a heartbeat shows it has let the job go.
      aborts_.push_back({node_id, node.info.rpc_endpoint(), job.info.job_id(), job.info.attempt(), reason,
                         node.info.public_key()});
    }
  }
}

void Coordinator::EndJob(JobRecord& job, v1::JobState state, const std::string& reason) {
  if (Terminal(job.info.state())) return;
  AbortAssignedNodes(job, reason);
  SetJobState(job, state, reason);
  ForgetOldJobs();
}

void Coordinator::BeginRecovery(JobRecord& job, const std::string& reason) {
  const v1::JobState state = job.info.state();
  if (Terminal(state) || state == v1::QUEUED) return;
  const uint32_t max_restarts = job.info.scenario().max_restarts();
  if (static_cast<uint32_t>(job.info.restarts_size()) >= max_restarts) {
    std::vector<std::string> reasons;
    for (const auto& restart : job.info.restarts()) reasons.push_back(restart.reason());
    reasons.push_back(reason);
    EndJob(job, v1::FAILED,
           StrCat("gave up after ", max_restarts, " restarts: ", StrJoin(reasons, "; then ")));
    return;
  }
  if (state != v1::RECOVERING) AbortAssignedNodes(job, reason);
  const uint64_t from_window = job.info.checkpoints().empty() ? 0 : job.info.checkpoints().rbegin()->window();
  v1::JobRestart* restart = job.info.add_restarts();
  restart->set_attempt(job.info.attempt() + 1);
  restart->set_reason(reason);
  restart->set_at_unix(WallSeconds());
  restart->set_from_window(from_window);
  restart->set_replayed_windows(job.info.window() > from_window ? job.info.window() - from_window : 0);
  metrics_.restarts->Increment();
  job.info.set_attempt(job.info.attempt() + 1);
  job.info.clear_assigned_nodes();
  job.info.clear_reported();
  job.info.set_window(from_window);
  job.shares.clear();
  job.pending_checkpoints.clear();
  job.adopting = false;
  job.waiting_since = SteadyClock::now();
  SetJobState(job, v1::RECOVERING, reason);
}

void Coordinator::LoseNode(uint64_t job_id, const std::string& reason) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end() || Terminal(job->second.info.state())) return;
  BeginRecovery(job->second, reason);
}

void Coordinator::CompleteIfDone(JobRecord& job) {
  if (job.shares.size() != static_cast<size_t>(job.info.assigned_nodes_size())) return;
  std::vector<v1::NodeShare> shares;
  for (auto& [rank, share] : job.shares) shares.push_back(share);
  auto result = AggregateShares(job.info.scenario(), std::move(shares));
  if (!result.ok()) {
    EndJob(job, v1::FAILED, std::string(result.status().message()));
    return;
  }
  result->set_mailbox_count(job.info.mailbox_count());
  *job.info.mutable_result() = std::move(*result);
  const auto& r = job.info.result();
  SetJobState(job, v1::COMPLETED, "");
  spdlog::info("job {}: {} events committed, {} windows, {:.3f} s, {:.0f} events/s, digest {:016x}",
               job.info.job_id(), r.committed_events(), r.windows(), r.wall_seconds(), r.event_rate(),
               r.digest());
  ForgetOldJobs();
}

void Coordinator::ForgetOldJobs() {
  size_t finished = 0;
  for (const auto& [id, job] : jobs_) finished += Terminal(job.info.state());
  for (auto it = jobs_.begin(); finished > options_.finished_jobs_kept && it != jobs_.end();) {
    if (Terminal(it->second.info.state())) {
      if (auto status = store_->DeleteJob(it->first); !status.ok()) {
        spdlog::warn("job {}: cannot delete it from the state database: {}", it->first, status.message());
      }
      it = jobs_.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
}

}  // namespace meshsim::coordinator
