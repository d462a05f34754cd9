// The coordinator: serves the Coordinator RPC service, keeps node membership
// (LOST after a heartbeat timeout), the job queue and each job's lifecycle
//   QUEUED -> ASSIGNING -> RUNNING -> COMPLETED | FAILED | CANCELLED
// partitions jobs over idle nodes, and keeps finished jobs' results.
//
// Threads: the RPC server thread runs handlers, which only change state
// under mutex_; the scheduler thread makes every outgoing call to nodes
// (prepare, start, abort), never holding the lock across a call.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::coordinator {

struct CoordinatorOptions {
  std::string bind = "tcp://127.0.0.1:7700";
  Duration heartbeat_interval = std::chrono::milliseconds(200);
  // A node is LOST after this long without a heartbeat; its job fails.
  Duration node_timeout = std::chrono::seconds(2);
  Duration node_call_timeout = std::chrono::seconds(10);
  size_t finished_jobs_kept = 1000;
  // Serve Prometheus metrics here; none when unset.
  std::optional<metrics::MetricsBind> metrics;
};

class Coordinator {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Coordinator>> Create(CoordinatorOptions options);
  ~Coordinator();

  void Start();
  void Stop();

  const std::string& endpoint() const { return server_->endpoint(); }
  // http://host:port/metrics, or empty when metrics are off.
  std::string metrics_url() const { return metrics_server_ ? metrics_server_->url() : std::string(); }
  rpc::RpcServerStats rpc_stats() const { return server_->stats(); }

 private:
  struct NodeRecord {
    v1::NodeInfo info;
    TimePoint last_heartbeat;
    double virtual_time = 0;
    uint64_t committed_events = 0;
  };
  struct JobRecord {
    v1::JobInfo info;
    std::map<uint32_t, v1::NodeShare> shares;  // by rank
    TimePoint started;
    uint32_t mailbox_count = 0;  // size of the job's mailbox registry
  };
  struct AbortCall {
    uint32_t node_id;
    std::string endpoint;
    uint64_t job_id;
    std::string reason;
  };

  explicit Coordinator(CoordinatorOptions options);
  void RegisterHandlers();
  void SchedulerLoop();
  void CheckHeartbeats();
  void AssignNextJob();
  absl::Status CallNode(const v1::PeerInfo& node, const std::string& rpc_endpoint, std::string_view method,
                        const google::protobuf::Message& request, google::protobuf::Message* reply,
                        Duration timeout);
  void SendAborts();
  // Drops the RPC clients of nodes that left (scheduler thread).
  void ForgetGoneNodeClients();

  // Moves a job to FAILED or CANCELLED and releases its nodes. Needs mutex_.
  void EndJob(JobRecord& job, v1::JobState state, const std::string& reason);
  void SetJobState(JobRecord& job, v1::JobState state, const std::string& reason);
  void CompleteIfDone(JobRecord& job);
  void ForgetOldJobs();
  v1::JobInfo Snapshot(const JobRecord& job) const;

  class StateCollector;
  // Nodes and jobs by state, read under mutex_ at each scrape.
  std::vector<prometheus::MetricFamily> CollectStateMetrics();

  CoordinatorOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  prometheus::Family<prometheus::Counter>* jobs_finished_ = nullptr;   // {state}
  prometheus::Family<prometheus::Histogram>* job_duration_ = nullptr;  // {state}
  zmq::context_t context_;
  std::unique_ptr<rpc::RpcServer> server_;
  std::thread scheduler_;

  std::mutex mutex_;
  std::condition_variable wake_scheduler_;
  std::map<uint32_t, NodeRecord> nodes_;  // guarded by mutex_
  std::map<uint64_t, JobRecord> jobs_;    // guarded by mutex_; id order is queue order
  std::deque<AbortCall> aborts_;          // guarded by mutex_
  uint32_t next_node_id_ = 1;             // guarded by mutex_
  uint64_t next_job_id_ = 1;              // guarded by mutex_
  bool stop_ = false;                     // guarded by mutex_
  bool node_left_ = false;                // guarded by mutex_; a LeaveNode since the last client cleanup

  // Used by the scheduler thread only.
  std::map<uint32_t, std::unique_ptr<rpc::RpcClient>> node_clients_;
};

// The transport of every directed link of a job: shared memory where both
// nodes see each other's probe (unless the scenario asks for tcp), TCP
// otherwise. `sees[a][b]`: rank a opened rank b's probe with the right token.
// FAILED_PRECONDITION when the scenario asks for shm and a pair cannot.
[[nodiscard]] absl::StatusOr<std::vector<std::vector<v1::Transport>>> ChooseTransports(
    v1::Transport requested, const std::vector<std::vector<bool>>& sees);

std::string_view JobStateName(v1::JobState state);
std::string_view NodeStateName(v1::NodeState state);

}  // namespace meshsim::coordinator
