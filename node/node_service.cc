#include "node/node_service.h"

#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {

void NodeService::RegisterOn(rpc::RpcServer& server) {
  server.Register<v1::PrepareJobRequest, v1::PrepareJobReply>(
      "Node.PrepareJob", [this](const v1::PrepareJobRequest& request, v1::PrepareJobReply* reply) {
        return PrepareJob(request, reply);
      });
  server.Register<v1::StartJobRequest, v1::StartJobReply>(
      "Node.StartJob",
      [this](const v1::StartJobRequest& request, v1::StartJobReply*) { return StartJob(request); });
  server.Register<v1::AbortJobRequest, v1::AbortJobReply>(
      "Node.AbortJob",
      [this](const v1::AbortJobRequest& request, v1::AbortJobReply*) { return AbortJob(request); });
}

absl::Status NodeService::AbortJob(const v1::AbortJobRequest& request) {
  // A job already gone is no error: aborts are retried.
  slot_->Drop(request.job_id(), request.attempt(), StrCat("aborted by the coordinator: ", request.reason()));
  return absl::OkStatus();
}

absl::Status NodeService::PrepareJob(const v1::PrepareJobRequest& request, v1::PrepareJobReply* reply) {
  MESHSIM_ASSIGN_OR_RETURN(auto retried, slot_->CheckPrepare(request.job_id(), request.attempt()));
  if (retried) {
    *reply = *retried;  // a retried call: the same answer again
    return absl::OkStatus();
  }
  MESHSIM_RETURN_IF_ERROR(CheckRequest(request));
  MESHSIM_ASSIGN_OR_RETURN(JobSetup setup, Setup(request));
  MESHSIM_ASSIGN_OR_RETURN(auto runner, CreateRunner(std::move(setup), request.scenario().model()));
  for (uint32_t rank : runner->colocated_ranks()) reply->add_colocated_ranks(rank);
  for (const std::string& mailbox : runner->subscribed_mailboxes()) reply->add_mailboxes(mailbox);
  std::set<std::string> peer_keys;
  if (parts_.with_keys) {
    for (const auto& peer : request.peers()) {
      if (peer.rank() != request.rank()) peer_keys.insert(peer.public_key());
    }
  }
  MESHSIM_RETURN_IF_ERROR(slot_->Prepare(std::move(runner), *reply, std::move(peer_keys)));
  spdlog::info("job {}: attempt {} prepared as rank {} of {}", request.job_id(), request.attempt(),
               request.rank(), request.peers_size());
  return absl::OkStatus();
}

absl::Status NodeService::CheckRequest(const v1::PrepareJobRequest& request) const {
  // The coordinator never sends more ranks than a scenario may have;
  // anything else is not its request.
  if (request.peers_size() > static_cast<int>(scenario::kMaxNodes) ||
      (request.has_restore() && request.restore().parts() > scenario::kMaxNodes)) {
    return absl::InvalidArgumentError(StrCat(request.peers_size(), " peers, ", request.restore().parts(),
                                             " checkpoint parts: at most ", scenario::kMaxNodes, " of each"));
  }
  // The model must be the coordinator's build of it: another build could
  // compute another result.
  const std::string& model = request.scenario().model();
  if (std::string why = sim::BuildMismatch(model, sim::ModelRegistry::Global().FindBuild(model),
                                           sim::FromProto(request.model_build()));
      !why.empty()) {
    return absl::FailedPreconditionError(StrCat("node ", parts_.node_name, ": ", why, " (model path: ",
                                                parts_.model_path.empty() ? "none" : parts_.model_path, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobSetup> NodeService::Setup(const v1::PrepareJobRequest& request) {
  JobSetup setup;
  setup.scenario = request.scenario();
  MESHSIM_RETURN_IF_ERROR(Annotate(scenario::Normalize(&setup.scenario), "scenario"));
  setup.job_id = request.job_id();
  setup.attempt = request.attempt();
  if (request.has_restore()) {
    MESHSIM_ASSIGN_OR_RETURN(setup.restore_parts,
                             parts_.checkpoints->Download(request.job_id(), request.restore()));
  }
  setup.node_id = parts_.node_id();
  setup.rank = request.rank();
  setup.peers.assign(request.peers().begin(), request.peers().end());
  if (parts_.probe != nullptr) {
    setup.probe_name = parts_.probe->name();
    setup.doorbell = parts_.doorbell;
  } else {
    for (auto& peer : setup.peers) peer.clear_probe_name();  // no shm here: probe nobody
  }
  return setup;
}

absl::StatusOr<std::unique_ptr<JobRunner>> NodeService::CreateRunner(JobSetup setup,
                                                                     const std::string& model) {
  // The model's Init (or RestoreState) runs here.
  try {
    return JobRunner::Create(std::move(setup), parts_.job, *parts_.context, parts_.tcp_inbox);
  } catch (...) {
    return absl::InternalError(StrCat("node ", parts_.node_name, ": model '", model, "' ",
                                      sim::DescribeException(std::current_exception()),
                                      " while its LPs were set up"));
  }
}

}  // namespace meshsim::node
