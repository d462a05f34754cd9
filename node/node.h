// A node process: registers with the coordinator and heartbeats; serves the
// Node RPC service (PrepareJob, StartJob, AbortJob); runs at most one job at
// a time on its data thread and reports its share to the coordinator.
//
// Threads, each owned here with Start()/Stop():
//   rpc-server   Node service handlers (brief; they only hand work over)
//   membership   register (again, with backoff and jitter, whenever the
//                coordinator has forgotten this node or restarted), then
//                heartbeat with job progress; delivers job reports, holding
//                them while the coordinator is away; a job keeps running
//                while the coordinator is unreachable
//   data         runs jobs; between jobs drains and counts stray frames
//   checkpoints  uploads checkpoint parts (node/checkpoint_client.h)
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "common/security/zap_handler.h"
#include "common/transport/shm/probe.h"
#include "common/transport/zmq/zmq_link.h"
#include "node/checkpoint_client.h"
#include "node/job_runner.h"
#include "node/node_metrics.h"
#include "zmq.hpp"

namespace meshsim::node {

struct NodeOptions {
  std::string coordinator_endpoint = "tcp://127.0.0.1:7700";
  std::string name;  // default: <hostname>-<pid>
  std::string rpc_bind = "tcp://127.0.0.1:0";
  std::string data_bind = "tcp://127.0.0.1:0";
  // The host peers and the coordinator reach this node at; empty: the bound
  // host, or for a wildcard bind (0.0.0.0) the local address toward the
  // coordinator.
  std::string advertise_host;
  // After this long without a successful heartbeat the coordinator is
  // reported unreachable (the job goes on; its report waits).
  Duration coordinator_timeout = std::chrono::seconds(10);
  JobRunnerOptions job;
  size_t max_frame_bytes = 256 << 20;
  // Serve Prometheus metrics here; none when unset.
  std::optional<metrics::MetricsBind> metrics;
  // With keys (docs/security.md): CURVE on the RPC and data sockets (only
  // the coordinator may call the node; only the current job's peers may
  // send it frames) and toward the coordinator. Plain TCP when null.
  std::shared_ptr<security::Keyring> keyring;
  // Where this node's model plugins came from, for messages.
  std::string model_path;
};

class Node {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Node>> Create(NodeOptions options);
  ~Node();

  // Starts the threads. `on_registered(node_id)` is called (on the
  // membership thread) each time the coordinator accepts this node.
  void Start(std::function<void(uint32_t node_id)> on_registered = {});
  // Aborts any job, tells the coordinator this node leaves (failing the
  // job there with `reason`), stops every thread. Idempotent.
  void Stop(std::string_view reason = "node stopped");

  // The endpoints this node gives the coordinator (and so its peers).
  const std::string& rpc_endpoint() const { return rpc_endpoint_; }
  const std::string& data_endpoint() const { return data_endpoint_; }
  uint64_t frames_dropped() const;
  // The Node service, for handing it requests directly (fuzz/node_rpc_fuzz).
  rpc::RpcServer& rpc_server() { return *rpc_server_; }
  // http://host:port/metrics, or empty when metrics are off.
  std::string metrics_url() const { return metrics_server_ ? metrics_server_->url() : std::string(); }

 private:
  explicit Node(NodeOptions options);
  void RegisterHandlers();
  void MembershipLoop();
  // Registers with the coordinator, naming the id this node had and the
  // job it holds. Returns the heartbeat interval, or an error.
  absl::StatusOr<Duration> Register(rpc::RpcClient& client);
  // Sends held job reports, oldest first, until one cannot be delivered.
  void DeliverReports(rpc::RpcClient& client);
  // Aborts the job attempt this node holds (when it still holds it) because
  // the coordinator said it is over: by AbortJob, or in a reply.
  void DropJob(uint64_t job_id, uint32_t attempt, std::string_view why);
  // With keys: the data socket admits no one until the next PrepareJob (a
  // job's peers are let in for that job only). Call with mutex_ held.
  void ForgetDataPeers();
  void Leave(std::string_view reason);
  void DataLoop();
  void RunJob(std::unique_ptr<JobRunner>& runner);
  rpc::RpcClient::Options CoordinatorClientOptions() const {
    return rpc::ClientOptions(options_.coordinator_endpoint, options_.keyring.get());
  }

  NodeOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<NodeMetrics> metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  zmq::context_t context_;
  std::unique_ptr<security::ZapHandler> zap_;  // before the sockets it judges
  std::mutex data_peers_mutex_;
  std::set<std::string> data_peer_keys_;  // the prepared job's peers; guarded by data_peers_mutex_
  std::unique_ptr<rpc::RpcServer> rpc_server_;
  std::unique_ptr<transport::ZmqFrameInbox> inbox_;
  std::unique_ptr<CheckpointClient> checkpoints_;
  std::string rpc_endpoint_;
  std::string data_endpoint_;
  // This node's co-location probe and doorbell; absent where shared memory
  // is unavailable (then every link is TCP).
  std::optional<transport::shm::ColocationProbe> probe_;
  std::optional<transport::shm::Doorbell> doorbell_;
  std::function<void(uint32_t)> on_registered_;
  std::thread membership_thread_;
  std::thread data_thread_;

  std::mutex mutex_;
  std::condition_variable job_changed_;
  // The prepared (then started) job; the data thread takes it over once
  // started. Guarded by mutex_.
  std::unique_ptr<JobRunner> prepared_;
  v1::PrepareJobReply prepared_reply_;  // answered again to a retried PrepareJob
  bool started_ = false;                // guarded by mutex_
  JobRunner* running_ = nullptr;        // guarded by mutex_; owned by the data thread
  uint64_t active_job_ = 0;             // prepared or running job id, guarded by mutex_
  uint32_t active_attempt_ = 0;         // its attempt, guarded by mutex_
  // Reports of finished jobs not yet delivered, oldest first.
  std::deque<v1::ReportJobRequest> reports_;  // guarded by mutex_
  bool stopping_ = false;                     // guarded by mutex_

  // Read by heartbeats from the membership thread: relaxed, standalone values.
  std::atomic<uint32_t> node_id_{0};
  std::atomic<uint64_t> idle_frames_dropped_{0};
  std::atomic<uint64_t> job_frames_dropped_{0};
  std::atomic<bool> stop_{false};
  // Set when RunJob queues a report, so the membership thread sends it
  // without waiting out a heartbeat interval. Relaxed: the report itself
  // is handed over under mutex_.
  std::atomic<bool> report_queued_{false};
};

}  // namespace meshsim::node
