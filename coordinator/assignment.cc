// The scheduler's assignment of a job attempt to nodes: pick the job and its
// nodes, choose the checkpoint a restart resumes from, prepare every node,
// choose the links and the mailbox table, start every node.
#include <algorithm>

#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "coordinator/mailbox_registry.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {

std::optional<v1::CheckpointInfo> Coordinator::PickCheckpoint(uint64_t job_id,
                                                              std::vector<v1::CheckpointInfo> candidates) {
  while (!candidates.empty()) {
    const v1::CheckpointInfo newest = candidates.back();
    candidates.pop_back();
    const CheckpointKey key{job_id, newest.window(), newest.attempt()};
    const absl::Status status = checkpoints_->Verify(key, newest.parts());
    if (status.ok()) return newest;
    spdlog::error("job {}: checkpoint at window {} is unusable, falling back to an older one: {}", job_id,
                  newest.window(), status.message());
    CountCheckpointFailure(absl::DataLossError(status.message()));
    checkpoints_->Remove(key);
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return std::nullopt;
    auto* list = it->second.info.mutable_checkpoints();
    list->erase(std::remove_if(list->begin(), list->end(),
                               [&](const v1::CheckpointInfo& c) {
                                 return c.window() == newest.window() && c.attempt() == newest.attempt();
                               }),
                list->end());
    Persist(it->second);
  }
  return std::nullopt;
}

void Coordinator::AssignNextJob() {
  uint64_t job_id = 0;
  uint32_t attempt = 0;
  v1::PrepareJobRequest prepare;
  std::vector<std::string> endpoints;  // rpc endpoint by rank
  std::vector<v1::CheckpointInfo> candidates;
  {
    std::lock_guard lock(mutex_);
    // Restarts go first, then the queue, each in id order; the first job
    // that cannot go yet holds the rest back, so none starves.
    JobRecord* job = nullptr;
    for (v1::JobState wanted_state : {v1::RECOVERING, v1::QUEUED}) {
      for (auto& [id, record] : jobs_) {
        if (job == nullptr && record.info.state() == wanted_state) job = &record;
      }
    }
    if (job == nullptr) return;
    const uint32_t wanted = job->info.scenario().nodes();
    std::vector<NodeRecord*> ready;
    for (auto& [id, node] : nodes_) {
      if (node.info.state() == v1::NODE_READY) ready.push_back(&node);
    }
    uint32_t count = wanted;
    if (ready.size() < wanted) {
      const bool recovering = job->info.state() == v1::RECOVERING;
      const bool grace_over = SteadyClock::now() - job->waiting_since >= options_.recovery_grace;
      if (!recovering || !grace_over || ready.empty()) {
        job->info.set_reason(StrCat(recovering ? "recovering: " : "", "waiting for ", wanted,
                                    " ready nodes (", ready.size(), " ready)"));
        return;
      }
      count = static_cast<uint32_t>(ready.size());  // no replacement came: fewer nodes, LPs repartitioned
    }
    job_id = job->info.job_id();
    if (job->info.attempt() == 0) job->info.set_attempt(1);
    attempt = job->info.attempt();
    candidates.assign(job->info.checkpoints().begin(), job->info.checkpoints().end());
    prepare.set_job_id(job_id);
    prepare.set_attempt(attempt);
    *prepare.mutable_scenario() = job->info.scenario();
    if (const sim::ModelBuild* build = sim::ModelRegistry::Global().FindBuild(prepare.scenario().model())) {
      *prepare.mutable_model_build() = sim::ToProto(*build);
    }
    for (uint32_t rank = 0; rank < count; ++rank) {
      NodeRecord& node = *ready[rank];
      node.info.set_state(v1::NODE_BUSY);
      node.info.set_job_id(job_id);
      node.attempt = attempt;
      node.virtual_time = 0;
      node.committed_events = 0;
      job->info.add_assigned_nodes(node.info.node_id());
      v1::PeerInfo* peer = prepare.add_peers();
      peer->set_rank(rank);
      peer->set_node_id(node.info.node_id());
      peer->set_data_endpoint(node.info.data_endpoint());
      peer->set_probe_name(node.info.probe_name());
      peer->set_probe_token(node.info.probe_token());
      peer->set_public_key(node.info.public_key());
      endpoints.push_back(node.info.rpc_endpoint());
    }
    if (job->info.restarts_size() > 0) job->info.mutable_restarts()->rbegin()->set_nodes(count);
    SetJobState(*job, v1::ASSIGNING, count < wanted ? StrCat("on ", count, " of ", wanted, " nodes") : "");
  }

  auto restore = PickCheckpoint(job_id, std::move(candidates));
  {
    // The restart goes back to what was usable, which may be older than
    // the newest checkpoint it expected.
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end() && it->second.info.attempt() == attempt && it->second.info.restarts_size() > 0) {
      v1::JobRestart& restart = *it->second.info.mutable_restarts()->rbegin();
      const uint64_t from = restore ? restore->window() : 0;
      restart.set_replayed_windows(restart.replayed_windows() + restart.from_window() - from);
      restart.set_from_window(from);
      metrics_.replayed_windows->Increment(static_cast<double>(restart.replayed_windows()));
      Persist(it->second);
    }
  }
  if (restore) {
    *prepare.mutable_restore() = *restore;
    spdlog::info("job {}: attempt {} restores the checkpoint at window {} (t={}) on {} nodes", job_id,
                 attempt, restore->window(), restore->virtual_time(), endpoints.size());
  } else if (attempt > 1) {
    spdlog::info("job {}: attempt {} starts from the beginning (no usable checkpoint) on {} nodes", job_id,
                 attempt, endpoints.size());
  }
  const Duration prepare_timeout =
      prepare.has_restore() ? options_.restore_call_timeout : options_.node_call_timeout;

  // Prepare every node, then start them all: a node only runs once every
  // peer has its LPs ready, and links can only be chosen once every node
  // has said which peers' probes it can see.
  const auto ranks = static_cast<uint32_t>(endpoints.size());
  // False when this attempt is over (cancelled, failed or replaced meanwhile,
  // or now because `status` is an error).
  auto still_live = [&](uint32_t rank, std::string_view step, const absl::Status& status) {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || it->second.info.attempt() != attempt || it->second.info.state() != v1::ASSIGNING)
      return false;
    if (status.ok()) return true;
    const std::string reason =
        StrCat("node ", prepare.peers(rank).node_id(), " (rank ", rank, ") ", step, ": ", status.message());
    // An unreachable node is a lost node; anything else (a bad scenario, a
    // model error) would fail again on any node.
    if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
      BeginRecovery(it->second, reason);
    } else {
      EndJob(it->second, v1::FAILED, reason);
    }
    return false;
  };
  std::vector<std::vector<bool>> sees(ranks, std::vector<bool>(ranks, false));
  std::vector<std::vector<std::string>> subscribed(ranks);
  for (uint32_t rank = 0; rank < ranks; ++rank) {
    prepare.set_rank(rank);
    v1::PrepareJobReply reply;
    const absl::Status status =
        CallNode(prepare.peers(rank), endpoints[rank], "Node.PrepareJob", prepare, &reply, prepare_timeout);
    if (!still_live(rank, "PrepareJob", status)) return;
    for (uint32_t peer : reply.colocated_ranks()) {
      if (peer < ranks) sees[rank][peer] = true;
    }
    subscribed[rank].assign(std::make_move_iterator(reply.mutable_mailboxes()->begin()),
                            std::make_move_iterator(reply.mutable_mailboxes()->end()));
  }
  auto fail = [&](const absl::Status& status) {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end() && it->second.info.attempt() == attempt) {
      EndJob(it->second, v1::FAILED, std::string(status.message()));
    }
  };
  auto transports = ChooseTransports(prepare.scenario().transport(), sees);
  if (!transports.ok()) return fail(transports.status());
  auto mailboxes = BuildMailboxTable(subscribed);
  if (!mailboxes.ok()) return fail(mailboxes.status());
  if (!mailboxes->empty())
    spdlog::info("job {}: mailbox registry has {} mailboxes", job_id, mailboxes->size());
  v1::StartJobRequest start;
  start.set_job_id(job_id);
  start.set_attempt(attempt);
  start.mutable_mailboxes()->Add(mailboxes->begin(), mailboxes->end());
  for (uint32_t rank = 0; rank < ranks; ++rank) {
    start.clear_link_transports();
    for (v1::Transport transport : (*transports)[rank]) start.add_link_transports(transport);
    v1::StartJobReply reply;
    const absl::Status status = CallNode(prepare.peers(rank), endpoints[rank], "Node.StartJob", start, &reply,
                                         options_.node_call_timeout);
    if (!still_live(rank, "StartJob", status)) return;
  }
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.info.attempt() != attempt || it->second.info.state() != v1::ASSIGNING) {
    return;
  }
  JobRecord& job = it->second;
  job.info.set_mailbox_count(static_cast<uint32_t>(mailboxes->size()));
  if (job.started == TimePoint{}) job.started = SteadyClock::now();
  SetJobState(job, v1::RUNNING, "");
}

}  // namespace meshsim::coordinator
