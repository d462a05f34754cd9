// A node's standing with the coordinator, on a thread of its own
// ("membership"): registers (again, with backoff and jitter, whenever the
// coordinator has forgotten this node or restarted), heartbeats with the
// held job's progress, drops a job the coordinator has moved on from, and
// delivers job reports, holding them while the coordinator is away. A job
// keeps running while the coordinator is unreachable; its report waits.
//
// Thread-safety: QueueReport and node_id from any thread; Start/Stop from
// the owner.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/rpc/rpc_client.h"
#include "node/job_slot.h"
#include "node/node_metrics.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::node {

// Who this node is, as it registers; everything outlives the session.
struct SessionIdentity {
  std::string name;
  std::string rpc_endpoint;
  std::string data_endpoint;
  std::string probe_name;  // empty without shared memory
  std::string probe_token;
  uint64_t memory_bytes = 0;  // the most memory the node may use
  std::string memory_source;
};

struct SessionOptions {
  rpc::RpcClient::Options coordinator;
  // After this long without a successful heartbeat the coordinator is
  // reported unreachable (the job goes on; its report waits).
  Duration coordinator_timeout = std::chrono::seconds(10);
  NodeMetrics* metrics = nullptr;           // may be null
  std::function<uint64_t()> rpc_malformed;  // the Node service's malformed requests so far
};

class CoordinatorSession {
 public:
  CoordinatorSession(zmq::context_t& context, SessionIdentity identity, SessionOptions options,
                     JobSlot& slot);
  ~CoordinatorSession() { Stop(); }

  // `on_registered(node_id)` runs on the membership thread each time the
  // coordinator accepts this node.
  void Start(std::function<void(uint32_t)> on_registered);
  // Ends the thread; reports not yet delivered are logged.
  void Stop();
  // Tells the coordinator this node leaves (brief; a coordinator that is
  // gone has nothing to be told).
  void Leave(std::string_view reason);

  // Queues a finished job's report and wakes the thread to send it.
  void QueueReport(v1::ReportJobRequest report);
  uint32_t node_id() const { return node_id_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  // Registers, naming the id this node had and the job it holds. Returns
  // the heartbeat interval.
  absl::StatusOr<Duration> Register(rpc::RpcClient& client);
  // One heartbeat; false when the coordinator does not know this node.
  absl::StatusOr<bool> Heartbeat(rpc::RpcClient& client, Duration interval);
  // Sends held reports, oldest first, until one cannot be delivered.
  void DeliverReports(rpc::RpcClient& client);
  // Sleeps in short slices so Stop() is prompt; a queued report cuts a
  // wait for the next heartbeat short.
  void Pause(Duration length, bool until_report);
  void SetRegistered(bool registered);

  zmq::context_t* context_;
  SessionIdentity identity_;
  SessionOptions options_;
  JobSlot* slot_;
  std::function<void(uint32_t)> on_registered_;
  std::thread thread_;
  std::mutex mutex_;
  std::deque<v1::ReportJobRequest> reports_;  // oldest first, guarded by mutex_
  // Relaxed: each stands alone (a report itself is handed over under mutex_).
  std::atomic<uint32_t> node_id_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> report_queued_{false};
};

}  // namespace meshsim::node
