#include "node/node_service.h"

#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

// How long one PrepareJob call waits for a set-up to end before it answers
// `preparing`: short enough that the coordinator's deadline never nears,
// long enough that a small job is prepared in one call.
constexpr Duration kPrepareAnswerWait = std::chrono::milliseconds(200);

}  // namespace

NodeService::~NodeService() {
  std::unique_lock lock(mutex_);
  if (!pending_) return;
  pending_->abandoned = true;
  std::thread thread = std::move(pending_->thread);
  lock.unlock();
  if (thread.joinable()) thread.join();
}

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
  {
    std::lock_guard lock(mutex_);
    if (pending_ && pending_->job_id == request.job_id() && pending_->attempt == request.attempt() &&
        !pending_->abandoned) {
      pending_->abandoned = true;
      spdlog::warn("job {}: attempt {} dropped while its LPs were set up: aborted by the coordinator: {}",
                   request.job_id(), request.attempt(), request.reason());
    }
  }
  slot_->Drop(request.job_id(), request.attempt(), StrCat("aborted by the coordinator: ", request.reason()));
  return absl::OkStatus();
}

absl::Status NodeService::PrepareJob(const v1::PrepareJobRequest& request, v1::PrepareJobReply* reply) {
  std::unique_lock lock(mutex_);
  if (pending_ && pending_->job_id == request.job_id() && pending_->attempt == request.attempt()) {
    return AnswerPending(lock, reply);
  }
  if (pending_) {
    // Another attempt's set-up. The coordinator asks a node for a job only
    // once it holds none for it, so that one is no longer wanted (its abort
    // may have been lost with a coordinator that restarted): it is dropped,
    // and waited out while it runs (Init cannot stop halfway).
    if (!pending_->abandoned) {
      pending_->abandoned = true;
      spdlog::warn(
          "job {}: attempt {} dropped while its LPs were set up: the coordinator asks for job {} "
          "attempt {}",
          pending_->job_id, pending_->attempt, request.job_id(), request.attempt());
    }
    if (!WaitForPendingEnd(lock)) {
      reply->set_preparing(true);
      reply->set_waiting_for_aborted(true);
      return absl::OkStatus();
    }
    const uint64_t old_job = pending_->job_id;
    const uint32_t old_attempt = pending_->attempt;
    ForgetPending(lock);
    // Ended before it was dropped: the slot may hold it.
    slot_->Drop(old_job, old_attempt, StrCat("the coordinator asks for job ", request.job_id(), " instead"));
  }
  MESHSIM_ASSIGN_OR_RETURN(auto retried, slot_->CheckPrepare(request.job_id(), request.attempt()));
  if (retried) {
    *reply = *retried;  // a retried call: the same answer again
    return absl::OkStatus();
  }
  MESHSIM_RETURN_IF_ERROR(CheckRequest(request));
  pending_ = std::make_unique<PendingPrepare>();
  pending_->job_id = request.job_id();
  pending_->attempt = request.attempt();
  pending_->thread = StartNamedThread("prepare", [this, request] {
    absl::Status status;
    try {
      status = SetUp(request);
    } catch (...) {  // e.g. memory ran out downloading a checkpoint
      status = ModelThrew(std::current_exception(), parts_.node_name, request.scenario().model(),
                          "while its LPs were set up", parts_.memory_limit);
    }
    std::lock_guard lock(mutex_);
    pending_->status = std::move(status);
    pending_->done = true;
    pending_done_.notify_all();
  });
  return AnswerPending(lock, reply);
}

absl::Status NodeService::AnswerPending(std::unique_lock<std::mutex>& lock, v1::PrepareJobReply* reply) {
  if (!WaitForPendingEnd(lock)) {
    reply->set_preparing(true);
    return absl::OkStatus();
  }
  const absl::Status status = pending_->status;
  const uint64_t job_id = pending_->job_id;
  const uint32_t attempt = pending_->attempt;
  ForgetPending(lock);
  MESHSIM_RETURN_IF_ERROR(status);
  MESHSIM_ASSIGN_OR_RETURN(auto prepared, slot_->CheckPrepare(job_id, attempt));
  if (!prepared) return absl::AbortedError(StrCat("job ", job_id, " attempt ", attempt, " was dropped"));
  *reply = *prepared;
  return absl::OkStatus();
}

bool NodeService::WaitForPendingEnd(std::unique_lock<std::mutex>& lock) {
  return pending_done_.wait_for(lock, kPrepareAnswerWait, [&] { return pending_->done; });
}

void NodeService::ForgetPending(std::unique_lock<std::mutex>& lock) {
  std::unique_ptr<PendingPrepare> ended = std::move(pending_);
  lock.unlock();
  ended->thread.join();  // it has set `done`: only its return is left
  lock.lock();
}

absl::Status NodeService::SetUp(const v1::PrepareJobRequest& request) {
  const TimePoint began = SteadyClock::now();
  MESHSIM_ASSIGN_OR_RETURN(JobSetup setup, Setup(request));
  MESHSIM_ASSIGN_OR_RETURN(auto runner, CreateRunner(std::move(setup), request.scenario().model()));
  v1::PrepareJobReply reply;
  for (uint32_t rank : runner->colocated_ranks()) reply.add_colocated_ranks(rank);
  for (const std::string& mailbox : runner->subscribed_mailboxes()) reply.add_mailboxes(mailbox);
  std::set<std::string> peer_keys;
  if (parts_.with_keys) {
    for (const auto& peer : request.peers()) {
      if (peer.rank() != request.rank()) peer_keys.insert(peer.public_key());
    }
  }
  {
    // An abort that came during the set-up drops the runner here; one
    // that comes after finds it in the slot (AbortJob marks the set-up
    // under the same lock, before it asks the slot).
    std::lock_guard lock(mutex_);
    if (pending_->abandoned) return absl::AbortedError("aborted while its LPs were set up");
    MESHSIM_RETURN_IF_ERROR(slot_->Prepare(std::move(runner), reply, std::move(peer_keys)));
  }
  spdlog::info("job {}: attempt {} prepared as rank {} of {} in {:.2f} s", request.job_id(),
               request.attempt(), request.rank(), request.peers_size(), SecondsSince(began));
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
    return ModelThrew(std::current_exception(), parts_.node_name, model, "while its LPs were set up",
                      parts_.memory_limit);
  }
}

}  // namespace meshsim::node
