#include "coordinator/coordinator.h"

#include <algorithm>
#include <utility>

#include "common/scenario/scenario.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "coordinator/internal/job_states.h"
#include "coordinator/job_result.h"
#include "coordinator/mailbox_registry.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {
namespace {

using internal::kCheckpointsKept;
using internal::Terminal;
using internal::WallSeconds;

constexpr auto kSchedulerTick = std::chrono::milliseconds(20);
constexpr auto kAbortTimeout = std::chrono::seconds(1);
// Job durations: 10 ms to ~45 min in factors of 4.
const prometheus::Histogram::BucketBoundaries kJobDurationBuckets = {0.01,  0.04,  0.16,   0.64,   2.56,
                                                                     10.24, 40.96, 163.84, 655.36, 2621.44};

}  // namespace

std::string_view JobStateName(v1::JobState state) {
  const std::string& name = v1::JobState_Name(state);  // the IDL's names: QUEUED, RUNNING, ...
  return name.empty() ? "UNKNOWN" : std::string_view(name);
}

std::string_view NodeStateName(v1::NodeState state) {
  std::string_view name = v1::NodeState_Name(state);  // NODE_READY, NODE_BUSY, NODE_LOST
  if (name.empty()) return "UNKNOWN";
  name.remove_prefix(name.starts_with("NODE_") ? 5 : 0);
  return name;
}

class Coordinator::StateCollector final : public prometheus::Collectable {
 public:
  explicit StateCollector(Coordinator* coordinator) : coordinator_(coordinator) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return coordinator_->CollectStateMetrics();
  }

 private:
  Coordinator* coordinator_;
};

std::vector<prometheus::MetricFamily> Coordinator::CollectStateMetrics() {
  std::map<std::string, double> nodes_by_state, jobs_by_state;
  // Every state, so each series exists from the first scrape.
  for (v1::NodeState state : {v1::NODE_READY, v1::NODE_BUSY, v1::NODE_LOST}) {
    nodes_by_state[std::string(NodeStateName(state))] = 0;
  }
  for (int state = v1::QUEUED; state <= v1::JobState_MAX; ++state) {
    jobs_by_state[std::string(JobStateName(static_cast<v1::JobState>(state)))] = 0;
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, node] : nodes_) ++nodes_by_state[std::string(NodeStateName(node.info.state()))];
    for (const auto& [id, job] : jobs_) ++jobs_by_state[std::string(JobStateName(job.info.state()))];
  }
  auto family = [](std::string name, std::string help, const std::map<std::string, double>& by_state) {
    prometheus::MetricFamily out{std::move(name), std::move(help), prometheus::MetricType::Gauge, {}};
    for (const auto& [state, count] : by_state) {
      prometheus::ClientMetric metric;
      metric.label = {{"state", state}};
      metric.gauge.value = count;
      out.metric.push_back(metric);
    }
    return out;
  };
  auto gauge = [](std::string name, std::string help, double value) {
    prometheus::MetricFamily out{std::move(name), std::move(help), prometheus::MetricType::Gauge, {}};
    prometheus::ClientMetric metric;
    metric.gauge.value = value;
    out.metric.push_back(metric);
    return out;
  };
  return {family("meshsim_coordinator_nodes", "Nodes the coordinator knows, by state.", nodes_by_state),
          family("meshsim_coordinator_jobs",
                 "Jobs the coordinator holds (queued, running, recovering, or kept finished), by state.",
                 jobs_by_state),
          gauge("meshsim_coordinator_state_db_bytes", "Size of the state database and its write-ahead log.",
                static_cast<double>(store_->size_bytes())),
          gauge("meshsim_coordinator_checkpoint_store_bytes", "Bytes of checkpoint parts stored.",
                static_cast<double>(checkpoints_->size_bytes()))};
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(CoordinatorOptions options) {
  if (options.state_dir.empty()) return absl::InvalidArgumentError("a state directory is required");
  auto coordinator = std::unique_ptr<Coordinator>(new Coordinator(std::move(options)));
  coordinator->RegisterMetrics();
  MESHSIM_RETURN_IF_ERROR(coordinator->OpenState());
  if (coordinator->options_.metrics) {
    MESHSIM_ASSIGN_OR_RETURN(
        coordinator->metrics_server_,
        metrics::MetricsServer::Start(*coordinator->options_.metrics, coordinator->registry_));
    coordinator->metrics_server_->Add(std::make_shared<StateCollector>(coordinator.get()));
    spdlog::info("serving metrics on {}", coordinator->metrics_server_->url());
  }
  if (coordinator->options_.keyring) {
    MESHSIM_ASSIGN_OR_RETURN(
        coordinator->zap_, security::ZapHandler::Start(coordinator->context_,
                                                       security::KeyringPolicy(coordinator->options_.keyring),
                                                       coordinator->registry_));
  }
  MESHSIM_ASSIGN_OR_RETURN(
      coordinator->server_,
      rpc::RpcServer::Create(coordinator->context_, {.bind_endpoint = coordinator->options_.bind,
                                                     .max_request_bytes = 16 << 20,
                                                     .thread_name = "coord-rpc",
                                                     .registry = coordinator->registry_,
                                                     .keyring = coordinator->options_.keyring}));
  coordinator->RegisterHandlers();
  return coordinator;
}

Coordinator::Coordinator(CoordinatorOptions options) : options_(std::move(options)) {}

Coordinator::~Coordinator() {
  // Scrapes read the state below; stop serving them before it goes.
  metrics_server_.reset();
  Stop();
}

absl::Status Coordinator::OpenState() {
  MESHSIM_ASSIGN_OR_RETURN(store_, JobStore::Open(options_.state_dir));
  MESHSIM_ASSIGN_OR_RETURN(checkpoints_, CheckpointStore::Open(options_.state_dir + "/checkpoints"));
  MESHSIM_ASSIGN_OR_RETURN(std::vector<v1::JobInfo> stored, store_->LoadJobs());
  MESHSIM_ASSIGN_OR_RETURN(next_job_id_, store_->LoadCounter("next_job_id", 1));
  MESHSIM_ASSIGN_OR_RETURN(uint64_t next_node, store_->LoadCounter("next_node_id", 1));
  next_node_id_ = static_cast<uint32_t>(next_node);
  const auto now = SteadyClock::now();
  size_t unfinished = 0;
  for (v1::JobInfo& info : stored) {
    // A crash between storing a job and its counter must not reuse its id.
    next_job_id_ = std::max(next_job_id_, info.job_id() + 1);
    JobRecord& job = jobs_[info.job_id()];
    job.info = std::move(info);
    for (const v1::NodeShare& share : job.info.reported()) job.shares[share.rank()] = share;
    std::vector<CheckpointKey> keep;
    for (const auto& c : job.info.checkpoints()) keep.push_back({job.info.job_id(), c.window(), c.attempt()});
    checkpoints_->RemoveAllBut(job.info.job_id(), keep);  // parts of checkpoints that never completed
    if (Terminal(job.info.state())) continue;
    ++unfinished;
    job.waiting_since = now;
    if (job.info.state() == v1::RUNNING) {
      job.adopting = true;  // its nodes may still be running it
    } else if (job.info.state() == v1::ASSIGNING) {
      // Which nodes prepared or started is unknown: run the attempt again.
      BeginRecovery(job, "the coordinator restarted while assigning the job");
    }
  }
  spdlog::info("state directory {}: {} jobs ({} unfinished), next job id {}", options_.state_dir,
               jobs_.size(), unfinished, next_job_id_);
  return absl::OkStatus();
}

void Coordinator::RegisterMetrics() {
  registry_ = metrics::NewProcessRegistry("coordinator");
  prometheus::Registry& registry = *registry_;
  metrics_.jobs_finished = &prometheus::BuildCounter()
                                .Name("meshsim_coordinator_jobs_finished_total")
                                .Help("Jobs that ended, by final state.")
                                .Register(registry);
  metrics_.job_duration = &prometheus::BuildHistogram()
                               .Name("meshsim_coordinator_job_duration_seconds")
                               .Help("Wall time from a job's start on its nodes to its end, by final state.")
                               .Register(registry);
  // Every final state exists from the start at zero, so rate() and
  // dashboards see the first job end rather than a series appearing.
  for (v1::JobState state : {v1::COMPLETED, v1::FAILED, v1::CANCELLED}) {
    const std::string name(JobStateName(state));
    metrics_.jobs_finished->Add({{"state", name}});
    metrics_.job_duration->Add({{"state", name}}, kJobDurationBuckets);
  }
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
  };
  metrics_.restarts = counter("meshsim_coordinator_job_restarts_total",
                              "Job restarts after a lost node (or a coordinator restart mid-assignment).");
  metrics_.replayed_windows = counter("meshsim_coordinator_replayed_windows_total",
                                      "Windows run again because a restart went back to a checkpoint.");
  metrics_.checkpoints = counter("meshsim_coordinator_checkpoints_total", "Complete checkpoints stored.");
  metrics_.checkpoint_bytes =
      counter("meshsim_coordinator_checkpoint_bytes_total", "Bytes of checkpoint parts stored.");
  metrics_.checkpoint_write_seconds =
      &prometheus::BuildHistogram()
           .Name("meshsim_coordinator_checkpoint_part_write_seconds")
           .Help("Time to write, sync and check one checkpoint part's last chunk.")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.004, 0.016, 0.064, 0.256, 1.024, 4.096});
  metrics_.checkpoint_failures = &prometheus::BuildCounter()
                                      .Name("meshsim_coordinator_checkpoint_failures_total")
                                      .Help("Checkpoint parts not stored or found damaged, by reason.")
                                      .Register(registry);
  for (const char* reason : {"disk_full", "not_writable", "damaged", "other"}) {
    metrics_.checkpoint_failures->Add({{"reason", reason}});
  }
  metrics_.state_write_failures = counter("meshsim_coordinator_state_write_failures_total",
                                          "Writes to the state database that failed (retried).");
}

void Coordinator::Start() {
  server_->Start();
  scheduler_ = StartNamedThread("scheduler", [this] { SchedulerLoop(); });
  spdlog::info("coordinator serving on {}", endpoint());
}

void Coordinator::Stop() {
  size_t unfinished = 0;
  {
    std::lock_guard lock(mutex_);
    if (stop_) return;
    stop_ = true;
    for (const auto& [id, job] : jobs_) unfinished += !Terminal(job.info.state());
    wake_scheduler_.notify_all();
  }
  if (scheduler_.joinable()) scheduler_.join();
  SendAborts();
  if (server_) server_->Stop();
  if (unfinished > 0) {
    spdlog::info("coordinator stopped; {} unfinished jobs stay in {} for the next start", unfinished,
                 options_.state_dir);
  }
}

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
    const std::string name(JobStateName(state));
    metrics_.jobs_finished->Add({{"state", name}}).Increment();
    if (job.started != TimePoint{}) {
      metrics_.job_duration->Add({{"state", name}}, kJobDurationBuckets).Observe(SecondsSince(job.started));
    }
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

void Coordinator::CountCheckpointFailure(const absl::Status& status) {
  const char* reason = absl::IsResourceExhausted(status)    ? "disk_full"
                       : absl::IsFailedPrecondition(status) ? "not_writable"
                       : absl::IsDataLoss(status)           ? "damaged"
                                                            : "other";
  metrics_.checkpoint_failures->Add({{"reason", reason}}).Increment();
}

void Coordinator::SchedulerLoop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_scheduler_.wait_for(lock, kSchedulerTick);
      if (stop_) return;
      RetryDirtyJobs();
    }
    CheckHeartbeats();
    CheckAdoptions();
    ForgetGoneNodeClients();
    SendAborts();
    AssignNextJob();
  }
}

void Coordinator::CheckHeartbeats() {
  std::lock_guard lock(mutex_);
  const auto now = SteadyClock::now();
  for (auto& [id, node] : nodes_) {
    if (node.info.state() == v1::NODE_LOST || now - node.last_heartbeat <= options_.node_timeout) continue;
    const double silent = std::chrono::duration<double>(now - node.last_heartbeat).count();
    node.info.set_state(v1::NODE_LOST);
    spdlog::warn("node {} ({}) lost: no heartbeat for {:.1f} s", id, node.info.name(), silent);
    auto job = jobs_.find(node.info.job_id());
    if (job != jobs_.end() && HoldsCurrentAttempt(node, job->second)) {
      LoseNode(job->first, StrCat("node ", id, " (", node.info.name(), ") lost: no heartbeat for ",
                                  fmt::format("{:.1f}", silent), " s"));
    }
  }
}

void Coordinator::CheckAdoptions() {
  std::lock_guard lock(mutex_);
  const auto now = SteadyClock::now();
  for (auto& [id, job] : jobs_) {
    if (!job.adopting) continue;
    if (job.info.state() != v1::RUNNING) {
      job.adopting = false;
      continue;
    }
    std::vector<std::string> missing;
    for (int rank = 0; rank < job.info.assigned_nodes_size(); ++rank) {
      const uint32_t node_id = job.info.assigned_nodes(rank);
      auto node = nodes_.find(node_id);
      const bool back = node != nodes_.end() && HoldsCurrentAttempt(node->second, job);
      if (!back && !job.shares.contains(static_cast<uint32_t>(rank))) {
        missing.push_back(StrCat("node ", node_id, " (rank ", rank, ")"));
      }
    }
    if (missing.empty()) {
      job.adopting = false;
      spdlog::info("job {}: every node came back after the coordinator restarted", id);
    } else if (now - job.waiting_since > options_.recovery_grace) {
      LoseNode(id, StrCat(StrJoin(missing, ", "), " did not come back after the coordinator restarted"));
    }
  }
}

absl::Status Coordinator::CallNode(const v1::PeerInfo& node, const std::string& rpc_endpoint,
                                   std::string_view method, const google::protobuf::Message& request,
                                   google::protobuf::Message* reply, Duration timeout) {
  auto& client = node_clients_[node.node_id()];
  if (!client || client->endpoint() != rpc_endpoint) {
    MESHSIM_ASSIGN_OR_RETURN(
        client, rpc::RpcClient::Create(
                    context_, rpc::ClientOptions(rpc_endpoint, options_.keyring.get(), node.public_key())));
  }
  return client->Call(method, request, reply, Deadline::After(timeout));
}

void Coordinator::ForgetGoneNodeClients() {
  std::lock_guard lock(mutex_);
  if (!std::exchange(node_left_, false)) return;
  std::erase_if(node_clients_, [this](const auto& entry) { return !nodes_.contains(entry.first); });
}

void Coordinator::SendAborts() {
  std::deque<AbortCall> calls;
  {
    std::lock_guard lock(mutex_);
    calls.swap(aborts_);
  }
  for (const AbortCall& call : calls) {
    v1::AbortJobRequest request;
    request.set_job_id(call.job_id);
    request.set_attempt(call.attempt);
    request.set_reason(call.reason);
    v1::AbortJobReply reply;
    v1::PeerInfo peer;
    peer.set_node_id(call.node_id);
    peer.set_public_key(call.public_key);
    if (auto status = CallNode(peer, call.endpoint, "Node.AbortJob", request, &reply, kAbortTimeout);
        !status.ok()) {
      spdlog::warn("job {}: abort to node {} failed: {}", call.job_id, call.node_id, status.message());
    }
  }
}

}  // namespace meshsim::coordinator
