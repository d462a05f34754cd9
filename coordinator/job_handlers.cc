// The Coordinator service's jobs: submit, get, cancel and list them, list
// the models, and take a node's report of its share of a job.
#include <algorithm>

#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "coordinator/internal/job_states.h"
#include "coordinator/memory_admission.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {
namespace {

using internal::Terminal;
using internal::WallSeconds;

}  // namespace

absl::Status Coordinator::HandleSubmitJob(const v1::SubmitJobRequest& request, v1::SubmitJobReply* reply) {
  v1::Scenario scenario = request.scenario();
  if (!request.scenario_yaml().empty()) {
    MESHSIM_ASSIGN_OR_RETURN(scenario, scenario::ParseYaml(request.scenario_yaml(), "scenario"));
  }
  if (request.nodes() != 0) scenario.set_nodes(request.nodes());
  if (request.sync() != v1::SYNC_UNSPECIFIED) scenario.set_sync(request.sync());
  std::unique_ptr<sim::Model> model;
  MESHSIM_RETURN_IF_ERROR(scenario::Normalize(&scenario, &model));
  std::lock_guard lock(mutex_);
  if (model != nullptr) {
    std::vector<uint64_t> node_memory;
    for (const auto& [id, node] : nodes_) {
      if (node.info.state() != v1::NODE_LOST) node_memory.push_back(node.info.memory_bytes());
    }
    if (absl::Status fits = CheckJobFitsMemory(*model, scenario, std::move(node_memory)); !fits.ok()) {
      spdlog::warn("refused a job of {} ({}): {}", scenario.name(), scenario.model(), fits.message());
      metrics_.jobs_refused_memory->Increment();
      return fits;
    }
  }
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

absl::Status Coordinator::HandleListModels(const v1::ListModelsRequest&, v1::ListModelsReply* reply) {
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

}  // namespace meshsim::coordinator
