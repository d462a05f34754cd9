// A node's side of checkpoint storage, which the coordinator keeps:
// uploads this node's parts in the background, so the window loop only
// pauses to serialize, and downloads a checkpoint's parts for a restart.
//
// Upload keeps at most one part waiting behind the one in flight; a newer
// part replaces a waiting one (its checkpoint then never completes, and a
// later one takes its place). A part the coordinator does not take (disk
// full, job over) is logged and counted; the job goes on.
//
// Thread-safety: Submit, busy and Download from any thread; one uploader
// thread, owned here (Start/Stop).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rpc/rpc_client.h"
#include "node/node_metrics.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::node {

struct CheckpointUpload {
  uint32_t node_id = 0;
  uint64_t job_id = 0;
  uint32_t attempt = 0;
  uint64_t window = 0;
  uint32_t rank = 0;
  double virtual_time = 0;
  std::vector<std::byte> bytes;
};

class CheckpointClient {
 public:
  // `metrics` may be null.
  // `coordinator`: how to reach the coordinator (its endpoint, and keys).
  CheckpointClient(zmq::context_t& context, rpc::RpcClient::Options coordinator, NodeMetrics* metrics);
  ~CheckpointClient();

  void Start();
  void Stop();

  void Submit(CheckpointUpload upload);
  // Whether a part is in flight or waiting.
  bool busy() const;

  // Fetches every part of `checkpoint` of `job_id`, in rank order.
  [[nodiscard]] absl::StatusOr<std::vector<std::vector<std::byte>>> Download(
      uint64_t job_id, const v1::CheckpointInfo& checkpoint);

 private:
  void UploadLoop();
  absl::Status Upload(const CheckpointUpload& upload);

  zmq::context_t& context_;
  rpc::RpcClient::Options coordinator_;
  NodeMetrics* metrics_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<CheckpointUpload> waiting_;  // guarded by mutex_
  bool in_flight_ = false;                   // guarded by mutex_
  bool stop_ = false;                        // guarded by mutex_
};

}  // namespace meshsim::node
