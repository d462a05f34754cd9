// The Coordinator RPC service's handlers: node membership, jobs, and the
// checkpoint parts nodes upload and restarts download.
#include <algorithm>

#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "coordinator/internal/job_states.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {
namespace {

using internal::kCheckpointsKept;
using internal::Terminal;
using internal::WallSeconds;

constexpr uint32_t kMaxCheckpointChunkBytes = 8 << 20;

}  // namespace

void Coordinator::RegisterHandlers() {
  RegisterNodeHandlers();
  RegisterJobHandlers();
  RegisterCheckpointHandlers();
}

void Coordinator::RegisterNodeHandlers() {
  server_->Register<v1::RegisterNodeRequest, v1::RegisterNodeReply>(
      "Coordinator.RegisterNode",
      [this](const v1::RegisterNodeRequest& request, v1::RegisterNodeReply* reply) {
        return HandleRegisterNode(request, reply);
      });

  server_->Register<v1::HeartbeatRequest, v1::HeartbeatReply>(
      "Coordinator.Heartbeat", [this](const v1::HeartbeatRequest& request, v1::HeartbeatReply* reply) {
        return HandleHeartbeat(request, reply);
      });

  server_->Register<v1::ListNodesRequest, v1::ListNodesReply>(
      "Coordinator.ListNodes", [this](const v1::ListNodesRequest& request, v1::ListNodesReply* reply) {
        return HandleListNodes(request, reply);
      });

  server_->Register<v1::LeaveNodeRequest, v1::LeaveNodeReply>(
      "Coordinator.LeaveNode", [this](const v1::LeaveNodeRequest& request, v1::LeaveNodeReply* reply) {
        return HandleLeaveNode(request, reply);
      });
}

void Coordinator::RegisterJobHandlers() {
  server_->Register<v1::SubmitJobRequest, v1::SubmitJobReply>(
      "Coordinator.SubmitJob", [this](const v1::SubmitJobRequest& request, v1::SubmitJobReply* reply) {
        return HandleSubmitJob(request, reply);
      });

  server_->Register<v1::GetJobRequest, v1::GetJobReply>(
      "Coordinator.GetJob", [this](const v1::GetJobRequest& request, v1::GetJobReply* reply) {
        return HandleGetJob(request, reply);
      });

  server_->Register<v1::CancelJobRequest, v1::CancelJobReply>(
      "Coordinator.CancelJob", [this](const v1::CancelJobRequest& request, v1::CancelJobReply* reply) {
        return HandleCancelJob(request, reply);
      });

  server_->Register<v1::ListModelsRequest, v1::ListModelsReply>(
      "Coordinator.ListModels", [](const v1::ListModelsRequest&, v1::ListModelsReply* reply) {
        for (const sim::ModelInfo* info : sim::ModelRegistry::Global().List()) {
          v1::ModelDescription* model = reply->add_models();
          model->set_name(info->name);
          model->set_description(info->description);
          *model->mutable_build() = sim::ToProto(*sim::ModelRegistry::Global().FindBuild(info->name));
          for (const sim::ParamSpec& spec : info->params) {
            v1::ModelParam* param = model->add_params();
            param->set_name(spec.name);
            param->set_integer(spec.kind == sim::ParamSpec::Kind::kInteger);
            param->set_min(spec.min);
            param->set_max(spec.max);
            param->set_default_value(spec.default_value);
            param->set_help(spec.help);
          }
        }
        return absl::OkStatus();
      });

  server_->Register<v1::ListJobsRequest, v1::ListJobsReply>(
      "Coordinator.ListJobs", [this](const v1::ListJobsRequest& request, v1::ListJobsReply* reply) {
        return HandleListJobs(request, reply);
      });

  server_->Register<v1::ReportJobRequest, v1::ReportJobReply>(
      "Coordinator.ReportJob", [this](const v1::ReportJobRequest& request, v1::ReportJobReply* reply) {
        return HandleReportJob(request, reply);
      });
}

bool Coordinator::RecordStoredPart(JobRecord& job, const v1::PutCheckpointRequest& part, uint32_t ranks,
                                   uint64_t bytes) {
  PendingCheckpoint& pending = job.pending_checkpoints[{part.window(), part.attempt()}];
  pending.ranks.insert(part.rank());
  pending.bytes += bytes;
  if (part.rank() == 0) pending.virtual_time = part.virtual_time();
  if (pending.ranks.size() < ranks) return false;
  // Complete: it becomes the job's newest once it is in the database.
  v1::CheckpointInfo* info = job.info.add_checkpoints();
  info->set_window(part.window());
  info->set_attempt(part.attempt());
  info->set_parts(ranks);
  info->set_virtual_time(pending.virtual_time);
  info->set_bytes(pending.bytes);
  info->set_at_unix(WallSeconds());
  job.info.set_checkpoints_written(job.info.checkpoints_written() + 1);
  job.pending_checkpoints.erase({part.window(), part.attempt()});
  spdlog::info("job {}: checkpoint at window {} (t={}) complete: {} parts, {:.1f} KiB", job.info.job_id(),
               part.window(), info->virtual_time(), ranks, static_cast<double>(info->bytes()) / 1024);
  auto* list = job.info.mutable_checkpoints();
  while (list->size() > static_cast<int>(kCheckpointsKept)) {
    checkpoints_->Remove({job.info.job_id(), list->begin()->window(), list->begin()->attempt()});
    list->erase(list->begin());
  }
  // Parts of checkpoints older than this one that never completed.
  std::erase_if(job.pending_checkpoints, [&](const auto& entry) {
    if (entry.first.first >= part.window()) return false;
    checkpoints_->Remove({job.info.job_id(), entry.first.first, entry.first.second});
    return true;
  });
  Persist(job);
  metrics_.checkpoints->Increment();
  return true;
}

void Coordinator::RegisterCheckpointHandlers() {
  server_->Register<v1::PutCheckpointRequest, v1::PutCheckpointReply>(
      "Coordinator.PutCheckpoint",
      [this](const v1::PutCheckpointRequest& request, v1::PutCheckpointReply* reply) {
        return HandlePutCheckpoint(request, reply);
      });

  server_->Register<v1::GetCheckpointRequest, v1::GetCheckpointReply>(
      "Coordinator.GetCheckpoint",
      [this](const v1::GetCheckpointRequest& request, v1::GetCheckpointReply* reply) {
        return HandleGetCheckpoint(request, reply);
      });
}

absl::Status Coordinator::HandleRegisterNode(const v1::RegisterNodeRequest& request,
                                             v1::RegisterNodeReply* reply) {
  if (request.rpc_endpoint().empty() || request.data_endpoint().empty()) {
    return absl::InvalidArgumentError("rpc_endpoint and data_endpoint are required");
  }
  std::lock_guard lock(mutex_);
  NodeRecord* record = nullptr;
  for (auto& [id, node] : nodes_) {
    if (node.info.rpc_endpoint() == request.rpc_endpoint()) record = &node;
  }
  if (record == nullptr) {
    // A node coming back to a restarted coordinator keeps its id, so
    // the jobs that list it still name it.
    const uint32_t previous = request.previous_node_id();
    const bool reuse = previous != 0 && previous < next_node_id_ && !nodes_.contains(previous);
    const uint32_t id = reuse ? previous : next_node_id_++;
    if (!reuse) {
      if (auto status = store_->SaveCounter("next_node_id", next_node_id_); !status.ok()) {
        --next_node_id_;
        return Annotate(status, "cannot register a node");
      }
    }
    record = &nodes_[id];
    record->info.set_node_id(id);
    spdlog::info("node {} {}: {} (pid {}) rpc {} data {}", id, reuse ? "is back" : "joined", request.name(),
                 request.pid(), request.rpc_endpoint(), request.data_endpoint());
  }
  record->info.set_name(request.name());
  record->info.set_rpc_endpoint(request.rpc_endpoint());
  record->info.set_data_endpoint(request.data_endpoint());
  record->info.set_pid(request.pid());
  record->info.set_probe_name(request.probe_name());
  record->info.set_probe_token(request.probe_token());
  // With keys, the key this node proved it holds: the coordinator calls
  // it with that key, and its peers accept its frames by it.
  record->info.set_public_key(rpc::CallerKey());
  record->info.set_state(v1::NODE_READY);
  record->info.set_job_id(0);
  record->attempt = 0;
  record->last_heartbeat = SteadyClock::now();
  if (request.job_id() != 0) {
    // The node still holds a job: it is BUSY with it until a heartbeat
    // shows it idle, whether it carries on or lets it go.
    record->info.set_state(v1::NODE_BUSY);
    record->info.set_job_id(request.job_id());
    record->attempt = request.attempt();
    auto job = jobs_.find(request.job_id());
    const bool carries_on = job != jobs_.end() && job->second.info.state() == v1::RUNNING &&
                            HoldsCurrentAttempt(*record, job->second) &&
                            std::ranges::count(job->second.info.assigned_nodes(), record->info.node_id()) > 0;
    reply->set_drop_job(!carries_on);
    spdlog::info("node {}: {} job {} attempt {}", record->info.node_id(),
                 carries_on ? "carries on with" : "is told to drop", request.job_id(), request.attempt());
  }
  reply->set_node_id(record->info.node_id());
  reply->set_heartbeat_interval_seconds(std::chrono::duration<double>(options_.heartbeat_interval).count());
  wake_scheduler_.notify_all();
  return absl::OkStatus();
}

absl::Status Coordinator::HandleHeartbeat(const v1::HeartbeatRequest& request, v1::HeartbeatReply* reply) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(request.node_id());
  reply->set_known(it != nodes_.end());
  if (it == nodes_.end()) return absl::OkStatus();
  NodeRecord& node = it->second;
  node.last_heartbeat = SteadyClock::now();
  node.info.set_frames_dropped(request.frames_dropped());
  node.info.set_rpc_malformed(request.rpc_malformed());
  if (node.info.state() == v1::NODE_LOST) {
    spdlog::info("node {} is back", node.info.node_id());
    node.info.set_state(v1::NODE_BUSY);  // released below once idle
  }
  auto job = jobs_.find(node.info.job_id());
  const bool current = job != jobs_.end() && HoldsCurrentAttempt(node, job->second) &&
                       (job->second.info.state() == v1::ASSIGNING || job->second.info.state() == v1::RUNNING);
  if (request.job_id() != 0) {
    const bool holds_current =
        current && request.job_id() == node.info.job_id() && request.attempt() == node.attempt;
    reply->set_drop_job(!holds_current);
    if (holds_current) {
      node.virtual_time = request.virtual_time();
      node.committed_events = request.committed_events();
      job->second.info.set_window(std::max(job->second.info.window(), request.window()));
    }
  } else if (node.info.state() == v1::NODE_BUSY && !current) {
    node.info.set_state(v1::NODE_READY);
    node.info.set_job_id(0);
    node.attempt = 0;
    wake_scheduler_.notify_all();
  }
  return absl::OkStatus();
}

absl::Status Coordinator::HandleListNodes(const v1::ListNodesRequest&, v1::ListNodesReply* reply) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, node] : nodes_) {
    v1::NodeInfo* info = reply->add_nodes();
    *info = node.info;
    info->set_last_heartbeat_age_seconds(SecondsSince(node.last_heartbeat));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::HandleLeaveNode(const v1::LeaveNodeRequest& request, v1::LeaveNodeReply*) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(request.node_id());
  if (it == nodes_.end()) return absl::OkStatus();  // already gone: a repeated goodbye
  const std::string name = it->second.info.name();
  spdlog::info("node {} ({}) left: {}", request.node_id(), name, request.reason());
  const uint64_t job_id = it->second.info.job_id();
  auto job = jobs_.find(job_id);
  const bool held = job != jobs_.end() && HoldsCurrentAttempt(it->second, job->second);
  nodes_.erase(it);
  node_left_ = true;
  if (held) LoseNode(job_id, StrCat("node ", request.node_id(), " (", name, ") left: ", request.reason()));
  wake_scheduler_.notify_all();
  return absl::OkStatus();
}

absl::Status Coordinator::HandleSubmitJob(const v1::SubmitJobRequest& request, v1::SubmitJobReply* reply) {
  v1::Scenario scenario = request.scenario();
  if (!request.scenario_yaml().empty()) {
    MESHSIM_ASSIGN_OR_RETURN(scenario, scenario::ParseYaml(request.scenario_yaml(), "scenario"));
  }
  if (request.nodes() != 0) scenario.set_nodes(request.nodes());
  MESHSIM_RETURN_IF_ERROR(scenario::Normalize(&scenario));
  std::lock_guard lock(mutex_);
  const size_t unfinished = std::ranges::count_if(
      jobs_, [](const auto& entry) { return !internal::Terminal(entry.second.info.state()); });
  if (unfinished >= options_.max_unfinished_jobs) {
    return absl::ResourceExhaustedError(StrCat("job not accepted: ", unfinished,
                                               " jobs are waiting or running, the coordinator's limit "
                                               "(--max-jobs)"));
  }
  const uint64_t id = next_job_id_;
  v1::JobInfo info;
  info.set_job_id(id);
  info.set_state(v1::QUEUED);
  info.set_submitted_unix(WallSeconds());
  *info.mutable_scenario() = std::move(scenario);
  internal::AppendHistory(info, v1::QUEUED, "");
  // A job is accepted only once it is stored: a reply means it survives
  // a crash, and its id is never handed out again.
  MESHSIM_RETURN_IF_ERROR(Annotate(store_->SaveCounter("next_job_id", id + 1), "job not accepted"));
  MESHSIM_RETURN_IF_ERROR(Annotate(store_->SaveJob(info), "job not accepted"));
  next_job_id_ = id + 1;
  JobRecord& job = jobs_[id];
  job.info = std::move(info);
  spdlog::info("job {}: QUEUED: {} ({}), {} nodes", id, job.info.scenario().name(),
               job.info.scenario().model(), job.info.scenario().nodes());
  reply->set_job_id(id);
  wake_scheduler_.notify_all();
  return absl::OkStatus();
}

absl::Status Coordinator::HandleGetJob(const v1::GetJobRequest& request, v1::GetJobReply* reply) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
  *reply->mutable_job() = Snapshot(it->second);
  return absl::OkStatus();
}

absl::Status Coordinator::HandleCancelJob(const v1::CancelJobRequest& request, v1::CancelJobReply* reply) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
  EndJob(it->second, v1::CANCELLED, "cancelled by request");
  *reply->mutable_job() = Snapshot(it->second);
  return absl::OkStatus();
}

absl::Status Coordinator::HandleListJobs(const v1::ListJobsRequest&, v1::ListJobsReply* reply) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, job] : jobs_) *reply->add_jobs() = Snapshot(job);
  return absl::OkStatus();
}

absl::Status Coordinator::HandleReportJob(const v1::ReportJobRequest& request, v1::ReportJobReply*) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
  JobRecord& job = it->second;
  auto node = nodes_.find(request.node_id());
  if (request.ok() && node != nodes_.end() && node->second.info.job_id() == request.job_id() &&
      node->second.attempt == request.attempt()) {
    // The node reports after letting the job go: it is idle now.
    node->second.info.set_state(v1::NODE_READY);
    node->second.info.set_job_id(0);
    node->second.attempt = 0;
    wake_scheduler_.notify_all();
  }
  if (Terminal(job.info.state())) return absl::OkStatus();  // late or repeated report
  if (request.attempt() != job.info.attempt()) {
    return absl::FailedPreconditionError(StrCat("job ", request.job_id(), " is at attempt ",
                                                job.info.attempt(), "; attempt ", request.attempt(),
                                                " is over"));
  }
  const auto& assigned = job.info.assigned_nodes();
  auto rank_it = std::find(assigned.begin(), assigned.end(), request.node_id());
  if (rank_it == assigned.end()) {
    return absl::PermissionDeniedError(
        StrCat("node ", request.node_id(), " is not assigned to job ", request.job_id()));
  }
  const auto rank = static_cast<uint32_t>(rank_it - assigned.begin());
  if (!request.ok()) {
    const std::string reason = StrCat("node ", request.node_id(), " (rank ", rank, "): ", request.error());
    // A peer that stopped answering is a lost node; a model error
    // would happen again on a restart.
    const auto code = static_cast<absl::StatusCode>(request.error_code());
    if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
      BeginRecovery(job, reason);
    } else {
      EndJob(job, v1::FAILED, reason);
    }
    return absl::OkStatus();
  }
  if (job.shares.contains(rank)) return absl::OkStatus();  // a retried report
  v1::NodeShare share = request.share();
  share.set_rank(rank);
  share.set_node_id(request.node_id());
  *job.info.add_reported() = share;
  job.shares[rank] = std::move(share);
  Persist(job);
  CompleteIfDone(job);
  return absl::OkStatus();
}

absl::Status Coordinator::HandlePutCheckpoint(const v1::PutCheckpointRequest& request,
                                              v1::PutCheckpointReply* reply) {
  const CheckpointKey key{request.job_id(), request.window(), request.attempt()};
  uint32_t ranks = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(request.job_id());
    if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
    const JobRecord& job = it->second;
    if (job.info.state() != v1::RUNNING || job.info.attempt() != request.attempt()) {
      return absl::FailedPreconditionError(
          StrCat("job ", request.job_id(), " attempt ", request.attempt(), " is not running"));
    }
    ranks = static_cast<uint32_t>(job.info.assigned_nodes_size());
    if (request.rank() >= ranks ||
        job.info.assigned_nodes(static_cast<int>(request.rank())) != request.node_id()) {
      return absl::PermissionDeniedError(
          StrCat("node ", request.node_id(), " is not rank ", request.rank(), " of job ", request.job_id()));
    }
  }
  if (request.data().size() > kMaxCheckpointChunkBytes) {
    return absl::InvalidArgumentError(StrCat("checkpoint chunk of ", request.data().size(), " bytes"));
  }
  const auto begin = SteadyClock::now();
  auto stored = checkpoints_->PutChunk(key, request.rank(), request.offset(), request.data(), request.last());
  if (!stored.ok()) {
    spdlog::warn("job {}: checkpoint at window {}: part of rank {} not stored: {}", request.job_id(),
                 request.window(), request.rank(), stored.status().message());
    CountCheckpointFailure(stored.status());
    return stored.status();
  }
  if (!request.last()) return absl::OkStatus();
  metrics_.checkpoint_write_seconds->Observe(SecondsSince(begin));
  metrics_.checkpoint_bytes->Increment(static_cast<double>(*stored));
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end() || it->second.info.attempt() != request.attempt()) {
    checkpoints_->Remove(key);  // the attempt ended while the part was written
    return absl::FailedPreconditionError(
        StrCat("job ", request.job_id(), " attempt ", request.attempt(), " is over"));
  }
  reply->set_complete(RecordStoredPart(it->second, request, ranks, *stored));
  return absl::OkStatus();
}

absl::Status Coordinator::HandleGetCheckpoint(const v1::GetCheckpointRequest& request,
                                              v1::GetCheckpointReply* reply) {
  const CheckpointKey key{request.job_id(), request.window(), request.attempt()};
  uint64_t total = 0;
  const uint32_t max_bytes = std::min(std::max<uint32_t>(request.max_bytes(), 1), kMaxCheckpointChunkBytes);
  MESHSIM_ASSIGN_OR_RETURN(*reply->mutable_data(),
                           checkpoints_->ReadChunk(key, request.rank(), request.offset(), max_bytes, &total));
  reply->set_total_bytes(total);
  return absl::OkStatus();
}

}  // namespace meshsim::coordinator
