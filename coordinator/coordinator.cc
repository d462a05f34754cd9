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

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(CoordinatorOptions options) {
  if (options.state_dir.empty()) return absl::InvalidArgumentError("a state directory is required");
  auto coordinator = std::unique_ptr<Coordinator>(new Coordinator(std::move(options)));
  coordinator->RegisterMetrics();
  MESHSIM_RETURN_IF_ERROR(coordinator->OpenState());
  if (coordinator->options_.metrics) {
    MESHSIM_ASSIGN_OR_RETURN(
        coordinator->metrics_server_,
        metrics::MetricsServer::Start(*coordinator->options_.metrics, coordinator->registry_));
    coordinator->ServeStateMetrics();
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
