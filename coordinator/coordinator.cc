#include "coordinator/coordinator.h"

#include <algorithm>
#include <utility>

#include "common/scenario/scenario.h"
#include "common/status/format.h"
#include "common/status/status.h"
#include "common/thread/named_thread.h"
#include "coordinator/job_result.h"
#include "coordinator/mailbox_registry.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {
namespace {

constexpr auto kSchedulerTick = std::chrono::milliseconds(20);
constexpr auto kAbortTimeout = std::chrono::seconds(1);
// Job durations: 10 ms to ~45 min in factors of 4.
const prometheus::Histogram::BucketBoundaries kJobDurationBuckets = {0.01,  0.04,  0.16,   0.64,   2.56,
                                                                     10.24, 40.96, 163.84, 655.36, 2621.44};

bool Terminal(v1::JobState state) {
  return state == v1::COMPLETED || state == v1::FAILED || state == v1::CANCELLED;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

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
  for (int state = v1::QUEUED; state <= v1::CANCELLED; ++state) {
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
  return {family("meshsim_coordinator_nodes", "Nodes the coordinator knows, by state.", nodes_by_state),
          family("meshsim_coordinator_jobs",
                 "Jobs the coordinator holds (queued, running, or kept finished), by state.", jobs_by_state)};
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(CoordinatorOptions options) {
  auto coordinator = std::unique_ptr<Coordinator>(new Coordinator(std::move(options)));
  if (coordinator->options_.metrics) {
    coordinator->registry_ = metrics::NewProcessRegistry("coordinator");
    coordinator->jobs_finished_ = &prometheus::BuildCounter()
                                       .Name("meshsim_coordinator_jobs_finished_total")
                                       .Help("Jobs that ended, by final state.")
                                       .Register(*coordinator->registry_);
    coordinator->job_duration_ =
        &prometheus::BuildHistogram()
             .Name("meshsim_coordinator_job_duration_seconds")
             .Help("Wall time from a job's start on its nodes to its end, by final state.")
             .Register(*coordinator->registry_);
    // Every final state exists from the start at zero, so rate() and
    // dashboards see the first job end rather than a series appearing.
    for (v1::JobState state : {v1::COMPLETED, v1::FAILED, v1::CANCELLED}) {
      const std::string name(JobStateName(state));
      coordinator->jobs_finished_->Add({{"state", name}});
      coordinator->job_duration_->Add({{"state", name}}, kJobDurationBuckets);
    }
    MESHSIM_ASSIGN_OR_RETURN(
        coordinator->metrics_server_,
        metrics::MetricsServer::Start(*coordinator->options_.metrics, coordinator->registry_));
    coordinator->metrics_server_->Add(std::make_shared<StateCollector>(coordinator.get()));
    spdlog::info("serving metrics on {}", coordinator->metrics_server_->url());
  }
  MESHSIM_ASSIGN_OR_RETURN(
      coordinator->server_,
      rpc::RpcServer::Create(coordinator->context_, {.bind_endpoint = coordinator->options_.bind,
                                                     .max_request_bytes = 16 << 20,
                                                     .thread_name = "coord-rpc",
                                                     .registry = coordinator->registry_}));
  coordinator->RegisterHandlers();
  return coordinator;
}

Coordinator::Coordinator(CoordinatorOptions options) : options_(std::move(options)) {}

Coordinator::~Coordinator() {
  // Scrapes read the state below; stop serving them before it goes.
  metrics_server_.reset();
  Stop();
}

void Coordinator::Start() {
  server_->Start();
  scheduler_ = StartNamedThread("scheduler", [this] { SchedulerLoop(); });
  spdlog::info("coordinator serving on {}", endpoint());
}

void Coordinator::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    // Jobs end with a reason rather than vanish: running ones are aborted
    // on their nodes below, so the nodes are free at once.
    for (auto& [id, job] : jobs_) {
      if (!Terminal(job.info.state())) EndJob(job, v1::CANCELLED, "coordinator shutting down");
    }
    wake_scheduler_.notify_all();
  }
  if (scheduler_.joinable()) scheduler_.join();
  SendAborts();
  if (server_) server_->Stop();
}

v1::JobInfo Coordinator::Snapshot(const JobRecord& job) const {
  v1::JobInfo info = job.info;
  if (info.state() == v1::RUNNING || info.state() == v1::ASSIGNING) {
    double slowest = -1;
    uint64_t committed = 0;
    for (uint32_t node_id : info.assigned_nodes()) {
      auto it = nodes_.find(node_id);
      if (it == nodes_.end()) continue;
      const auto& node = it->second;
      const bool reported = std::any_of(job.shares.begin(), job.shares.end(),
                                        [&](const auto& s) { return s.second.node_id() == node_id; });
      const double time = reported ? info.scenario().end_time()
                                   : (node.info.job_id() == info.job_id() ? node.virtual_time : 0);
      slowest = slowest < 0 ? time : std::min(slowest, time);
      committed += node.info.job_id() == info.job_id() ? node.committed_events : 0;
    }
    for (const auto& [rank, share] : job.shares) committed += share.committed_events();
    info.set_virtual_time(std::max(0.0, slowest));
    info.set_committed_events(committed);
  }
  return info;
}

void Coordinator::SetJobState(JobRecord& job, v1::JobState state, const std::string& reason) {
  const auto from = job.info.state();
  job.info.set_state(state);
  job.info.set_reason(reason);
  if (jobs_finished_ != nullptr && Terminal(state)) {
    const std::string name(JobStateName(state));
    jobs_finished_->Add({{"state", name}}).Increment();
    if (job.started != TimePoint{}) {
      job_duration_->Add({{"state", name}}, kJobDurationBuckets).Observe(SecondsSince(job.started));
    }
  }
  if (reason.empty()) {
    spdlog::info("job {}: {} -> {}", job.info.job_id(), JobStateName(from), JobStateName(state));
  } else {
    spdlog::log(state == v1::FAILED ? spdlog::level::warn : spdlog::level::info, "job {}: {} -> {}: {}",
                job.info.job_id(), JobStateName(from), JobStateName(state), reason);
  }
  wake_scheduler_.notify_all();
}

void Coordinator::EndJob(JobRecord& job, v1::JobState state, const std::string& reason) {
  if (Terminal(job.info.state())) return;
  SetJobState(job, state, reason);
  for (uint32_t node_id : job.info.assigned_nodes()) {
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) continue;
    NodeRecord& node = it->second;
    const bool reported = std::any_of(job.shares.begin(), job.shares.end(),
                                      [&](const auto& s) { return s.second.node_id() == node_id; });
    if (node.info.state() != v1::NODE_LOST && !reported) {
      // The node stays BUSY until a heartbeat shows it has let the job go.
      aborts_.push_back({node_id, node.info.rpc_endpoint(), job.info.job_id(), reason});
    }
  }
  ForgetOldJobs();
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
  result->set_mailbox_count(job.mailbox_count);
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
      it = jobs_.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
}

void Coordinator::RegisterHandlers() {
  server_->Register<v1::RegisterNodeRequest, v1::RegisterNodeReply>(
      "Coordinator.RegisterNode",
      [this](const v1::RegisterNodeRequest& request, v1::RegisterNodeReply* reply) {
        if (request.rpc_endpoint().empty() || request.data_endpoint().empty()) {
          return absl::InvalidArgumentError("rpc_endpoint and data_endpoint are required");
        }
        std::lock_guard lock(mutex_);
        NodeRecord* record = nullptr;
        for (auto& [id, node] : nodes_) {
          if (node.info.rpc_endpoint() == request.rpc_endpoint()) record = &node;
        }
        if (record == nullptr) {
          const uint32_t id = next_node_id_++;
          record = &nodes_[id];
          record->info.set_node_id(id);
          spdlog::info("node {} joined: {} (pid {}) rpc {} data {}", id, request.name(), request.pid(),
                       request.rpc_endpoint(), request.data_endpoint());
        }
        record->info.set_name(request.name());
        record->info.set_rpc_endpoint(request.rpc_endpoint());
        record->info.set_data_endpoint(request.data_endpoint());
        record->info.set_pid(request.pid());
        record->info.set_probe_name(request.probe_name());
        record->info.set_probe_token(request.probe_token());
        record->info.set_state(v1::NODE_READY);
        record->info.set_job_id(0);
        record->last_heartbeat = SteadyClock::now();
        reply->set_node_id(record->info.node_id());
        reply->set_heartbeat_interval_seconds(
            std::chrono::duration<double>(options_.heartbeat_interval).count());
        wake_scheduler_.notify_all();
        return absl::OkStatus();
      });

  server_->Register<v1::HeartbeatRequest, v1::HeartbeatReply>(
      "Coordinator.Heartbeat", [this](const v1::HeartbeatRequest& request, v1::HeartbeatReply* reply) {
        std::lock_guard lock(mutex_);
        auto it = nodes_.find(request.node_id());
        reply->set_known(it != nodes_.end());
        if (it == nodes_.end()) return absl::OkStatus();
        NodeRecord& node = it->second;
        node.last_heartbeat = SteadyClock::now();
        node.info.set_frames_dropped(request.frames_dropped());
        node.info.set_rpc_malformed(request.rpc_malformed());
        if (request.job_id() != 0 && request.job_id() == node.info.job_id()) {
          node.virtual_time = request.virtual_time();
          node.committed_events = request.committed_events();
        }
        if (node.info.state() == v1::NODE_LOST) {
          spdlog::info("node {} is back", node.info.node_id());
          node.info.set_state(v1::NODE_BUSY);  // released below once idle
        }
        if (node.info.state() == v1::NODE_BUSY && request.job_id() == 0) {
          auto job = jobs_.find(node.info.job_id());
          if (job == jobs_.end() || Terminal(job->second.info.state())) {
            node.info.set_state(v1::NODE_READY);
            node.info.set_job_id(0);
            wake_scheduler_.notify_all();
          }
        }
        return absl::OkStatus();
      });

  server_->Register<v1::SubmitJobRequest, v1::SubmitJobReply>(
      "Coordinator.SubmitJob", [this](const v1::SubmitJobRequest& request, v1::SubmitJobReply* reply) {
        v1::Scenario scenario = request.scenario();
        MESHSIM_RETURN_IF_ERROR(scenario::Normalize(&scenario));
        std::lock_guard lock(mutex_);
        const uint64_t id = next_job_id_++;
        JobRecord& job = jobs_[id];
        job.info.set_job_id(id);
        job.info.set_state(v1::QUEUED);
        job.info.set_submitted_unix(WallSeconds());
        *job.info.mutable_scenario() = std::move(scenario);
        spdlog::info("job {}: QUEUED: {} ({}), {} nodes", id, job.info.scenario().name(),
                     job.info.scenario().model(), job.info.scenario().nodes());
        reply->set_job_id(id);
        wake_scheduler_.notify_all();
        return absl::OkStatus();
      });

  server_->Register<v1::GetJobRequest, v1::GetJobReply>(
      "Coordinator.GetJob", [this](const v1::GetJobRequest& request, v1::GetJobReply* reply) {
        std::lock_guard lock(mutex_);
        auto it = jobs_.find(request.job_id());
        if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
        *reply->mutable_job() = Snapshot(it->second);
        return absl::OkStatus();
      });

  server_->Register<v1::CancelJobRequest, v1::CancelJobReply>(
      "Coordinator.CancelJob", [this](const v1::CancelJobRequest& request, v1::CancelJobReply* reply) {
        std::lock_guard lock(mutex_);
        auto it = jobs_.find(request.job_id());
        if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
        EndJob(it->second, v1::CANCELLED, "cancelled by request");
        *reply->mutable_job() = Snapshot(it->second);
        return absl::OkStatus();
      });

  server_->Register<v1::ListNodesRequest, v1::ListNodesReply>(
      "Coordinator.ListNodes", [this](const v1::ListNodesRequest&, v1::ListNodesReply* reply) {
        std::lock_guard lock(mutex_);
        for (const auto& [id, node] : nodes_) {
          v1::NodeInfo* info = reply->add_nodes();
          *info = node.info;
          info->set_last_heartbeat_age_seconds(SecondsSince(node.last_heartbeat));
        }
        return absl::OkStatus();
      });

  server_->Register<v1::ListJobsRequest, v1::ListJobsReply>(
      "Coordinator.ListJobs", [this](const v1::ListJobsRequest&, v1::ListJobsReply* reply) {
        std::lock_guard lock(mutex_);
        for (const auto& [id, job] : jobs_) *reply->add_jobs() = Snapshot(job);
        return absl::OkStatus();
      });

  server_->Register<v1::ReportJobRequest, v1::ReportJobReply>(
      "Coordinator.ReportJob", [this](const v1::ReportJobRequest& request, v1::ReportJobReply*) {
        std::lock_guard lock(mutex_);
        auto it = jobs_.find(request.job_id());
        if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
        JobRecord& job = it->second;
        const auto& assigned = job.info.assigned_nodes();
        auto rank_it = std::find(assigned.begin(), assigned.end(), request.node_id());
        if (rank_it == assigned.end()) {
          return absl::PermissionDeniedError(
              StrCat("node ", request.node_id(), " is not assigned to job ", request.job_id()));
        }
        const auto rank = static_cast<uint32_t>(rank_it - assigned.begin());
        auto node = nodes_.find(request.node_id());
        if (request.ok() && node != nodes_.end() && node->second.info.job_id() == request.job_id()) {
          // The node reports after letting the job go: it is idle now.
          node->second.info.set_state(v1::NODE_READY);
          node->second.info.set_job_id(0);
          wake_scheduler_.notify_all();
        }
        if (Terminal(job.info.state())) return absl::OkStatus();  // late or repeated report
        if (!request.ok()) {
          EndJob(job, v1::FAILED,
                 StrCat("node ", request.node_id(), " (rank ", rank, "): ", request.error()));
          return absl::OkStatus();
        }
        v1::NodeShare share = request.share();
        share.set_rank(rank);
        share.set_node_id(request.node_id());
        job.shares[rank] = std::move(share);
        CompleteIfDone(job);
        return absl::OkStatus();
      });

  server_->Register<v1::LeaveNodeRequest, v1::LeaveNodeReply>(
      "Coordinator.LeaveNode", [this](const v1::LeaveNodeRequest& request, v1::LeaveNodeReply*) {
        std::lock_guard lock(mutex_);
        auto it = nodes_.find(request.node_id());
        if (it == nodes_.end()) return absl::OkStatus();  // already gone: a repeated goodbye
        const std::string name = it->second.info.name();
        spdlog::info("node {} ({}) left: {}", request.node_id(), name, request.reason());
        auto job = jobs_.find(it->second.info.job_id());
        nodes_.erase(it);
        node_left_ = true;
        if (job != jobs_.end() && !Terminal(job->second.info.state())) {
          EndJob(job->second, v1::FAILED,
                 StrCat("node ", request.node_id(), " (", name, ") left: ", request.reason()));
        }
        wake_scheduler_.notify_all();
        return absl::OkStatus();
      });
}

void Coordinator::SchedulerLoop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_scheduler_.wait_for(lock, kSchedulerTick);
      if (stop_) return;
    }
    CheckHeartbeats();
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
    if (job != jobs_.end() && !Terminal(job->second.info.state())) {
      EndJob(job->second, v1::FAILED,
             StrCat("node ", id, " (", node.info.name(), ") lost: no heartbeat for ",
                    fmt::format("{:.1f}", silent), " s"));
    }
  }
}

absl::Status Coordinator::CallNode(const v1::PeerInfo& node, const std::string& rpc_endpoint,
                                   std::string_view method, const google::protobuf::Message& request,
                                   google::protobuf::Message* reply, Duration timeout) {
  auto& client = node_clients_[node.node_id()];
  if (!client || client->endpoint() != rpc_endpoint) {
    MESHSIM_ASSIGN_OR_RETURN(client, rpc::RpcClient::Create(context_, {.endpoint = rpc_endpoint}));
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
    request.set_reason(call.reason);
    v1::AbortJobReply reply;
    v1::PeerInfo peer;
    peer.set_node_id(call.node_id);
    if (auto status = CallNode(peer, call.endpoint, "Node.AbortJob", request, &reply, kAbortTimeout);
        !status.ok()) {
      spdlog::warn("job {}: abort to node {} failed: {}", call.job_id, call.node_id, status.message());
    }
  }
}

absl::StatusOr<std::vector<std::vector<v1::Transport>>> ChooseTransports(
    v1::Transport requested, const std::vector<std::vector<bool>>& sees) {
  const size_t ranks = sees.size();
  std::vector<std::vector<v1::Transport>> chosen(ranks, std::vector<v1::Transport>(ranks, v1::TRANSPORT_TCP));
  for (size_t a = 0; a < ranks; ++a) {
    for (size_t b = 0; b < ranks; ++b) {
      if (a == b) continue;
      // Both must see each other: then both map each other's rings.
      const bool shared = sees[a][b] && sees[b][a];
      if (requested == v1::TRANSPORT_SHM && !shared) {
        return absl::FailedPreconditionError(
            StrCat("transport shm: ranks ", a, " and ", b,
                   " cannot share memory (different host or IPC namespace); use transport auto or tcp"));
      }
      if (requested != v1::TRANSPORT_TCP && shared) chosen[a][b] = v1::TRANSPORT_SHM;
    }
  }
  return chosen;
}

void Coordinator::AssignNextJob() {
  uint64_t job_id = 0;
  v1::PrepareJobRequest prepare;
  std::vector<std::string> endpoints;  // rpc endpoint by rank
  {
    std::lock_guard lock(mutex_);
    JobRecord* job = nullptr;
    for (auto& [id, record] : jobs_) {
      if (record.info.state() == v1::QUEUED) {
        job = &record;
        break;
      }
    }
    if (job == nullptr) return;
    const uint32_t wanted = job->info.scenario().nodes();
    std::vector<NodeRecord*> ready;
    for (auto& [id, node] : nodes_) {
      if (node.info.state() == v1::NODE_READY) ready.push_back(&node);
    }
    if (ready.size() < wanted) {
      job->info.set_reason(StrCat("waiting for ", wanted, " ready nodes (", ready.size(), " ready)"));
      return;
    }
    job_id = job->info.job_id();
    prepare.set_job_id(job_id);
    *prepare.mutable_scenario() = job->info.scenario();
    for (uint32_t rank = 0; rank < wanted; ++rank) {
      NodeRecord& node = *ready[rank];
      node.info.set_state(v1::NODE_BUSY);
      node.info.set_job_id(job_id);
      node.virtual_time = 0;
      node.committed_events = 0;
      job->info.add_assigned_nodes(node.info.node_id());
      v1::PeerInfo* peer = prepare.add_peers();
      peer->set_rank(rank);
      peer->set_node_id(node.info.node_id());
      peer->set_data_endpoint(node.info.data_endpoint());
      peer->set_probe_name(node.info.probe_name());
      peer->set_probe_token(node.info.probe_token());
      endpoints.push_back(node.info.rpc_endpoint());
    }
    SetJobState(*job, v1::ASSIGNING, "");
  }

  // Prepare every node, then start them all: a node only runs once every
  // peer has its LPs ready, and links can only be chosen once every node
  // has said which peers' probes it can see.
  const auto ranks = static_cast<uint32_t>(endpoints.size());
  auto fail_unless_live = [&](uint32_t rank, std::string_view step, const absl::Status& status) {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || Terminal(it->second.info.state()))
      return false;  // cancelled or failed meanwhile
    if (!status.ok()) {
      EndJob(it->second, v1::FAILED,
             StrCat("node ", prepare.peers(rank).node_id(), " (rank ", rank, ") ", step, ": ",
                    status.message()));
      return false;
    }
    return true;
  };
  std::vector<std::vector<bool>> sees(ranks, std::vector<bool>(ranks, false));
  std::vector<std::vector<std::string>> subscribed(ranks);
  for (uint32_t rank = 0; rank < ranks; ++rank) {
    prepare.set_rank(rank);
    v1::PrepareJobReply reply;
    const absl::Status status = CallNode(prepare.peers(rank), endpoints[rank], "Node.PrepareJob", prepare,
                                         &reply, options_.node_call_timeout);
    if (!fail_unless_live(rank, "PrepareJob", status)) return;
    for (uint32_t peer : reply.colocated_ranks()) {
      if (peer < ranks) sees[rank][peer] = true;
    }
    subscribed[rank].assign(std::make_move_iterator(reply.mutable_mailboxes()->begin()),
                            std::make_move_iterator(reply.mutable_mailboxes()->end()));
  }
  auto fail = [&](const absl::Status& status) {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) EndJob(it->second, v1::FAILED, std::string(status.message()));
  };
  auto transports = ChooseTransports(prepare.scenario().transport(), sees);
  if (!transports.ok()) return fail(transports.status());
  auto mailboxes = BuildMailboxTable(subscribed);
  if (!mailboxes.ok()) return fail(mailboxes.status());
  if (!mailboxes->empty()) {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) it->second.mailbox_count = static_cast<uint32_t>(mailboxes->size());
    spdlog::info("job {}: mailbox registry has {} mailboxes", job_id, mailboxes->size());
  }
  v1::StartJobRequest start;
  start.set_job_id(job_id);
  start.mutable_mailboxes()->Add(std::make_move_iterator(mailboxes->begin()),
                                 std::make_move_iterator(mailboxes->end()));
  for (uint32_t rank = 0; rank < ranks; ++rank) {
    start.clear_link_transports();
    for (v1::Transport transport : (*transports)[rank]) start.add_link_transports(transport);
    v1::StartJobReply reply;
    const absl::Status status = CallNode(prepare.peers(rank), endpoints[rank], "Node.StartJob", start, &reply,
                                         options_.node_call_timeout);
    if (!fail_unless_live(rank, "StartJob", status)) return;
  }
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && it->second.info.state() == v1::ASSIGNING) {
    it->second.started = SteadyClock::now();
    SetJobState(it->second, v1::RUNNING, "");
  }
}

}  // namespace meshsim::coordinator
