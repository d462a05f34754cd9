// The scheduler's assignment of a job attempt to nodes: pick the job and its
// nodes, choose the checkpoint a restart resumes from, prepare every node,
// choose the links and the mailbox table, start every node.
#include <algorithm>

#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "coordinator/mailbox_registry.h"
#include "coordinator/sync_choice.h"
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
  std::optional<Assignment> assignment;
  {
    std::lock_guard lock(mutex_);
    assignment = ClaimNodes();
  }
  if (!assignment) return;
  ChooseRestore(*assignment);
  // Prepare every node, then start them all: a node only runs once every
  // peer has its LPs ready, and links can only be chosen once every node
  // has said which peers' probes it can see.
  auto prepared = PrepareNodes(*assignment);
  if (!prepared) return;
  auto transports = ChooseTransports(assignment->prepare.scenario().transport(), prepared->sees);
  if (!transports.ok()) return FailAttempt(*assignment, transports.status());
  auto mailboxes = BuildMailboxTable(prepared->subscribed);
  if (!mailboxes.ok()) return FailAttempt(*assignment, mailboxes.status());
  if (!mailboxes->empty()) {
    spdlog::info("job {}: mailbox registry has {} mailboxes", assignment->job_id, mailboxes->size());
  }
  if (!StartNodes(*assignment, *transports, *mailboxes)) return;
  MarkRunning(*assignment, mailboxes->size());
}

Coordinator::JobRecord* Coordinator::NextJobToAssign() {
  // Restarts go first, then the queue, each in id order; the first job
  // that cannot go yet holds the rest back, so none starves.
  for (v1::JobState wanted_state : {v1::RECOVERING, v1::QUEUED}) {
    for (auto& [id, record] : jobs_) {
      if (record.info.state() == wanted_state) return &record;
    }
  }
  return nullptr;
}

std::optional<Coordinator::Assignment> Coordinator::ClaimNodes() {
  JobRecord* job = NextJobToAssign();
  if (job == nullptr) return std::nullopt;
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
      job->info.set_reason(StrCat(recovering ? "recovering: " : "", "waiting for ", wanted, " ready nodes (",
                                  ready.size(), " ready)"));
      return std::nullopt;
    }
    count = static_cast<uint32_t>(ready.size());  // no replacement came: fewer nodes, LPs repartitioned
  }
  Assignment assignment;
  assignment.job_id = job->info.job_id();
  if (job->info.attempt() == 0) job->info.set_attempt(1);
  assignment.attempt = job->info.attempt();
  assignment.candidates.assign(job->info.checkpoints().begin(), job->info.checkpoints().end());
  v1::PrepareJobRequest& prepare = assignment.prepare;
  prepare.set_job_id(assignment.job_id);
  prepare.set_attempt(assignment.attempt);
  *prepare.mutable_scenario() = job->info.scenario();
  prepare.mutable_scenario()->set_sync(ChooseSync(prepare.scenario()));
  job->info.set_sync(prepare.scenario().sync());
  if (const sim::ModelBuild* build = sim::ModelRegistry::Global().FindBuild(prepare.scenario().model())) {
    *prepare.mutable_model_build() = sim::ToProto(*build);
  }
  for (uint32_t rank = 0; rank < count; ++rank) ClaimNode(*ready[rank], rank, *job, assignment);
  if (job->info.restarts_size() > 0) job->info.mutable_restarts()->rbegin()->set_nodes(count);
  SetJobState(*job, v1::ASSIGNING, count < wanted ? StrCat("on ", count, " of ", wanted, " nodes") : "");
  return assignment;
}

void Coordinator::ClaimNode(NodeRecord& node, uint32_t rank, JobRecord& job, Assignment& assignment) {
  node.info.set_state(v1::NODE_BUSY);
  node.info.set_job_id(assignment.job_id);
  node.attempt = assignment.attempt;
  node.virtual_time = 0;
  node.committed_events = 0;
  job.info.add_assigned_nodes(node.info.node_id());
  v1::PeerInfo* peer = assignment.prepare.add_peers();
  peer->set_rank(rank);
  peer->set_node_id(node.info.node_id());
  peer->set_data_endpoint(node.info.data_endpoint());
  peer->set_probe_name(node.info.probe_name());
  peer->set_probe_token(node.info.probe_token());
  peer->set_public_key(node.info.public_key());
  assignment.endpoints.push_back(node.info.rpc_endpoint());
}

void Coordinator::ChooseRestore(Assignment& assignment) {
  const uint64_t job_id = assignment.job_id;
  auto restore = PickCheckpoint(job_id, std::move(assignment.candidates));
  {
    // The restart goes back to what was usable, which may be older than
    // the newest checkpoint it expected.
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end() && it->second.info.attempt() == assignment.attempt &&
        it->second.info.restarts_size() > 0) {
      v1::JobRestart& restart = *it->second.info.mutable_restarts()->rbegin();
      const uint64_t from = restore ? restore->window() : 0;
      restart.set_replayed_windows(restart.replayed_windows() + restart.from_window() - from);
      restart.set_from_window(from);
      metrics_.replayed_windows->Increment(static_cast<double>(restart.replayed_windows()));
      Persist(it->second);
    }
  }
  const size_t nodes = assignment.endpoints.size();
  if (restore) {
    *assignment.prepare.mutable_restore() = *restore;
    spdlog::info("job {}: attempt {} restores the checkpoint at window {} (t={}) on {} nodes", job_id,
                 assignment.attempt, restore->window(), restore->virtual_time(), nodes);
  } else if (assignment.attempt > 1) {
    spdlog::info("job {}: attempt {} starts from the beginning (no usable checkpoint) on {} nodes", job_id,
                 assignment.attempt, nodes);
  }
}

bool Coordinator::AttemptLive(const Assignment& assignment, uint32_t rank, std::string_view step,
                              const absl::Status& status) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(assignment.job_id);
  if (it == jobs_.end() || it->second.info.attempt() != assignment.attempt ||
      it->second.info.state() != v1::ASSIGNING) {
    return false;  // cancelled, failed or replaced meanwhile
  }
  if (status.ok()) return true;
  const std::string reason = StrCat("node ", assignment.prepare.peers(rank).node_id(), " (rank ", rank, ") ",
                                    step, ": ", status.message());
  // An unreachable node is a lost node; anything else (a bad scenario, a
  // model error) would fail again on any node.
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    BeginRecovery(it->second, reason);
  } else {
    EndJob(it->second, v1::FAILED, reason);
  }
  return false;
}

std::optional<Coordinator::PreparedRanks> Coordinator::PrepareNodes(Assignment& assignment) {
  // Every node sets up its LPs at once: a call starts the set-up and
  // answers `preparing` while it runs; the rounds ask every node not yet
  // done again, watching heartbeats and sending aborts between them, as
  // the scheduler's loop would.
  v1::PrepareJobRequest& prepare = assignment.prepare;
  const auto ranks = static_cast<uint32_t>(assignment.endpoints.size());
  PreparedRanks prepared{std::vector<std::vector<bool>>(ranks, std::vector<bool>(ranks, false)),
                         std::vector<std::vector<std::string>>(ranks)};
  std::vector<bool> done(ranks, false);
  uint32_t remaining = ranks;
  const TimePoint began = SteadyClock::now();
  // A node still ending an aborted job's set-up has not begun this one's:
  // the deadline counts from when it could (a set-up that never ends
  // holds the job until it is cancelled, as a hung node would).
  Deadline deadline = Deadline::After(options_.prepare_timeout);
  for (uint32_t round = 0; remaining > 0; ++round) {
    if (round > 0) {
      {
        std::lock_guard lock(mutex_);
        if (stop_) return std::nullopt;  // a restarted coordinator assigns the job again
      }
      CheckHeartbeats();
      SendAborts();
      if (deadline.Expired()) {
        FailAttempt(
            assignment,
            absl::DeadlineExceededError(StrCat(
                remaining, " of ", ranks, " nodes had not set up their LPs within the coordinator's ",
                "--prepare-timeout of ",
                fmt::format("{:g}", std::chrono::duration<double>(options_.prepare_timeout).count()), " s")));
        return std::nullopt;
      }
    }
    for (uint32_t rank = 0; rank < ranks; ++rank) {
      if (done[rank]) continue;
      prepare.set_rank(rank);
      v1::PrepareJobReply reply;
      const absl::Status status = CallNode(prepare.peers(rank), assignment.endpoints[rank], "Node.PrepareJob",
                                           prepare, &reply, options_.node_call_timeout);
      if (!AttemptLive(assignment, rank, "PrepareJob", status)) return std::nullopt;
      if (reply.waiting_for_aborted()) deadline = Deadline::After(options_.prepare_timeout);
      if (reply.preparing()) continue;
      done[rank] = true;
      --remaining;
      for (uint32_t peer : reply.colocated_ranks()) {
        if (peer < ranks) prepared.sees[rank][peer] = true;
      }
      prepared.subscribed[rank].assign(std::make_move_iterator(reply.mutable_mailboxes()->begin()),
                                       std::make_move_iterator(reply.mutable_mailboxes()->end()));
    }
  }
  const double seconds = SecondsSince(began);
  if (seconds >= 1) {
    spdlog::info("job {}: attempt {}: {} nodes set up their LPs in {:.1f} s", assignment.job_id,
                 assignment.attempt, ranks, seconds);
  }
  return prepared;
}

bool Coordinator::StartNodes(const Assignment& assignment,
                             const std::vector<std::vector<v1::Transport>>& transports,
                             const std::vector<v1::MailboxRoute>& mailboxes) {
  v1::StartJobRequest start;
  start.set_job_id(assignment.job_id);
  start.set_attempt(assignment.attempt);
  start.mutable_mailboxes()->Add(mailboxes.begin(), mailboxes.end());
  for (uint32_t rank = 0; rank < assignment.endpoints.size(); ++rank) {
    start.clear_link_transports();
    for (v1::Transport transport : transports[rank]) start.add_link_transports(transport);
    v1::StartJobReply reply;
    const absl::Status status = CallNode(assignment.prepare.peers(rank), assignment.endpoints[rank],
                                         "Node.StartJob", start, &reply, options_.node_call_timeout);
    if (!AttemptLive(assignment, rank, "StartJob", status)) return false;
  }
  return true;
}

void Coordinator::FailAttempt(const Assignment& assignment, const absl::Status& status) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(assignment.job_id);
  if (it != jobs_.end() && it->second.info.attempt() == assignment.attempt) {
    EndJob(it->second, v1::FAILED, std::string(status.message()));
  }
}

void Coordinator::MarkRunning(const Assignment& assignment, size_t mailbox_count) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(assignment.job_id);
  if (it == jobs_.end() || it->second.info.attempt() != assignment.attempt ||
      it->second.info.state() != v1::ASSIGNING) {
    return;
  }
  JobRecord& job = it->second;
  job.info.set_mailbox_count(static_cast<uint32_t>(mailbox_count));
  if (job.started == TimePoint{}) job.started = SteadyClock::now();
  SetJobState(job, v1::RUNNING, "");
}

}  // namespace meshsim::coordinator
