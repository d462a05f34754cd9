// The Node RPC service (Node.PrepareJob, Node.StartJob, Node.AbortJob), as
// the coordinator calls it. Each handler decodes, checks, and hands the
// job to the node's JobSlot; none waits for a job to run. PrepareJob
// builds the job's runner, which runs the model's Init (or downloads and
// restores a checkpoint): a model that throws fails the job, not the node.
//
// Thread-safety: handlers run on the RPC server's thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

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
  bool with_keys = false;  // admit the job's peers' keys on the data socket
};

class NodeService {
 public:
  NodeService(NodeServiceParts parts, JobSlot& slot) : parts_(std::move(parts)), slot_(&slot) {}
  void RegisterOn(rpc::RpcServer& server);

 private:
  absl::Status PrepareJob(const v1::PrepareJobRequest& request, v1::PrepareJobReply* reply);
  absl::Status StartJob(const v1::StartJobRequest& request) { return slot_->Start(request); }
  absl::Status AbortJob(const v1::AbortJobRequest& request);
  // The request's shape and the model build, before any work.
  absl::Status CheckRequest(const v1::PrepareJobRequest& request) const;
  absl::StatusOr<JobSetup> Setup(const v1::PrepareJobRequest& request);
  absl::StatusOr<std::unique_ptr<JobRunner>> CreateRunner(JobSetup setup, const std::string& model);

  NodeServiceParts parts_;
  JobSlot* slot_;
};

}  // namespace meshsim::node
