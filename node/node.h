// A node process: puts together its parts and runs at most one job at a
// time on its data thread. The parts, each with its own header:
//   node/node_service.h         the Node RPC service (PrepareJob, StartJob,
//                               AbortJob), on the rpc-server thread
//   node/coordinator_session.h  registration, heartbeats and job reports,
//                               on the membership thread
//   node/job_slot.h             the one job held, handed between threads
//   node/job_runner.h           one job's kernel, links and sync protocol
//   node/checkpoint_client.h    checkpoint uploads, on their own thread
//
// Threads, each owned with Start()/Stop(): rpc-server, membership,
// checkpoints, and data (runs jobs; between jobs drains and counts stray
// frames).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "common/process/process_memory.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "common/security/zap_handler.h"
#include "common/transport/shm/probe.h"
#include "common/transport/zmq/zmq_link.h"
#include "node/checkpoint_client.h"
#include "node/coordinator_session.h"
#include "node/job_runner.h"
#include "node/job_slot.h"
#include "node/node_metrics.h"
#include "node/node_service.h"
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
  // The most memory the node may use (reported to the coordinator, which
  // refuses jobs that would not fit); by default what the host, the
  // cgroup and the rlimits allow.
  process::MemoryLimit memory_limit = process::ProcessMemoryLimit();
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
  uint64_t frames_dropped() const { return slot_.frames_dropped(); }
  // The Node service, for handing it requests directly (fuzz/node_rpc_fuzz).
  rpc::RpcServer& rpc_server() { return *rpc_server_; }
  // http://host:port/metrics, or empty when metrics are off.
  std::string metrics_url() const { return metrics_server_ ? metrics_server_->url() : std::string(); }

 private:
  explicit Node(NodeOptions options);
  absl::Status StartMetrics();
  absl::Status BindSockets();
  void OpenProbe();
  void BuildParts();
  void DataLoop();
  void RunJob(std::unique_ptr<JobRunner> runner);
  rpc::RpcClient::Options CoordinatorClientOptions() const {
    return rpc::ClientOptions(options_.coordinator_endpoint, options_.keyring.get());
  }

  NodeOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<NodeMetrics> metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  zmq::context_t context_;
  JobSlot slot_;
  std::unique_ptr<security::ZapHandler> zap_;  // before the sockets it judges
  std::unique_ptr<rpc::RpcServer> rpc_server_;
  std::unique_ptr<transport::ZmqFrameInbox> inbox_;
  std::unique_ptr<CheckpointClient> checkpoints_;
  std::string rpc_endpoint_;
  std::string data_endpoint_;
  // This node's co-location probe and doorbell; absent where shared memory
  // is unavailable (then every link is TCP).
  std::optional<transport::shm::ColocationProbe> probe_;
  std::optional<transport::shm::Doorbell> doorbell_;
  std::unique_ptr<NodeService> service_;
  std::unique_ptr<CoordinatorSession> session_;
  std::thread data_thread_;
  std::atomic<bool> stop_{false};  // relaxed: it publishes nothing else
  std::atomic<bool> stopping_{false};
};

}  // namespace meshsim::node
