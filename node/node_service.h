// The Node RPC service (Node.PrepareJob, Node.StartJob, Node.AbortJob), as
// the coordinator calls it. Each handler decodes, checks, and hands the
// job to the node's JobSlot; none waits for a job to run. PrepareJob
// builds the job's runner, which runs the model's Init (or downloads and
// restores a checkpoint): a model that throws fails the job, not the node.
//
// Setting up LPs can take minutes (10^7 of them, or a large checkpoint),
// far past an RPC deadline, so it runs on a thread of its own: PrepareJob
// answers `preparing` while it runs, and the coordinator asks again (every
// node of a job sets up at once). The same call, once the set-up ended,
// gets its answer or its error.
//
// Thread-safety: handlers run on the RPC server's thread; the set-up
// thread shares only `pending_`, under `mutex_`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/rpc/rpc_server.h"
#include "common/transport/shm/probe.h"
#include "node/checkpoint_client.h"
#include "node/job_runner.h"
#include "node/job_slot.h"
#include "zmq.hpp"

namespace meshsim::node {

// What PrepareJob needs of the node; everything outlives the service.
struct NodeServiceParts {
  std::string node_name;
  std::string model_path;  // where this node's plugins came from, for messages
  JobRunnerOptions job;
  zmq::context_t* context = nullptr;
  transport::FrameInbox* tcp_inbox = nullptr;
  CheckpointClient* checkpoints = nullptr;
  // This node's probe and doorbell; null where shared memory is unavailable.
  const transport::shm::ColocationProbe* probe = nullptr;
  transport::shm::Doorbell* doorbell = nullptr;
  // The node's id as the coordinator gave it (0 before registering).
  std::function<uint32_t()> node_id;
  bool with_keys = false;             // admit the job's peers' keys on the data socket
  process::MemoryLimit memory_limit;  // for the message when memory runs out
};

class NodeService {
 public:
  NodeService(NodeServiceParts parts, JobSlot& slot) : parts_(std::move(parts)), slot_(&slot) {}
  // Waits for a set-up that is still running (its job is dropped).
  ~NodeService();
  NodeService(const NodeService&) = delete;
  NodeService& operator=(const NodeService&) = delete;
  void RegisterOn(rpc::RpcServer& server);

 private:
  // One job attempt's set-up, running or ended and not yet answered.
  struct PendingPrepare {
    uint64_t job_id = 0;
    uint32_t attempt = 0;
    std::thread thread;
    bool done = false;       // guarded by mutex_
    bool abandoned = false;  // guarded by mutex_; aborted meanwhile: its runner is dropped
    absl::Status status;     // guarded by mutex_; once done
  };

  absl::Status PrepareJob(const v1::PrepareJobRequest& request, v1::PrepareJobReply* reply);
  // The set-up thread's body: the runner built and held by the slot.
  absl::Status SetUp(const v1::PrepareJobRequest& request);
  // Answers a call for the pending attempt, waiting a little for it to end.
  absl::Status AnswerPending(std::unique_lock<std::mutex>& lock, v1::PrepareJobReply* reply);
  // Whether the pending set-up ended within one answer's wait.
  bool WaitForPendingEnd(std::unique_lock<std::mutex>& lock);
  // Joins an ended set-up and clears it.
  void ForgetPending(std::unique_lock<std::mutex>& lock);
  absl::Status StartJob(const v1::StartJobRequest& request) { return slot_->Start(request); }
  absl::Status AbortJob(const v1::AbortJobRequest& request);
  // The request's shape and the model build, before any work.
  absl::Status CheckRequest(const v1::PrepareJobRequest& request) const;
  absl::StatusOr<JobSetup> Setup(const v1::PrepareJobRequest& request);
  absl::StatusOr<std::unique_ptr<JobRunner>> CreateRunner(JobSetup setup, const std::string& model);

  NodeServiceParts parts_;
  JobSlot* slot_;
  std::mutex mutex_;
  std::condition_variable pending_done_;
  std::unique_ptr<PendingPrepare> pending_;  // guarded by mutex_
};

}  // namespace meshsim::node
