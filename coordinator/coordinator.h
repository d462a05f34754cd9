// The coordinator: serves the Coordinator RPC service, keeps node membership
// (LOST after a heartbeat timeout), the job queue and each job's lifecycle
//   QUEUED -> ASSIGNING -> RUNNING -> COMPLETED | FAILED | CANCELLED
//                 ^            |
//                 +-- RECOVERING <-- a node lost, left or unreachable
// partitions jobs over idle nodes, stores checkpoint parts the nodes upload
// and restarts a job that lost a node from its last complete checkpoint.
// Every job lives in the state directory's database (coordinator/
// job_store.h): a coordinator killed at any point and started again on the
// same directory finds its jobs, takes back the nodes that come back to it
// and the results they held, and restarts what they cannot finish.
//
// Threads: the RPC server thread runs handlers, which only change state
// under mutex_ (checkpoint file I/O happens outside it); the scheduler
// thread makes every outgoing call to nodes (prepare, start, abort), never
// holding the lock across a call.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "common/security/zap_handler.h"
#include "coordinator/checkpoint_store.h"
#include "coordinator/job_store.h"
#include "coordinator/transport_choice.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::coordinator {

struct CoordinatorOptions {
  std::string bind = "tcp://127.0.0.1:7700";
  // Jobs, results and checkpoints live here (required).
  std::string state_dir;
  Duration heartbeat_interval = std::chrono::milliseconds(200);
  // A node is LOST after this long without a heartbeat; its job recovers.
  Duration node_timeout = std::chrono::seconds(2);
  Duration node_call_timeout = std::chrono::seconds(10);
  // How long the nodes of a job attempt may take to set up its LPs (Init,
  // or downloading and restoring a checkpoint) before the job fails.
  Duration prepare_timeout = std::chrono::minutes(10);
  // A recovering job waits this long for enough nodes before it restarts
  // on fewer; after a coordinator restart, running jobs' nodes have this
  // long to come back before their job recovers without them.
  Duration recovery_grace = std::chrono::seconds(10);
  size_t finished_jobs_kept = 1000;
  // Jobs not yet finished (queued, running, recovering) beyond this are
  // refused with RESOURCE_EXHAUSTED, so a flood of submissions cannot
  // exhaust the coordinator's memory or its disk.
  size_t max_unfinished_jobs = 10000;
  // Serve Prometheus metrics here; none when unset.
  std::optional<metrics::MetricsBind> metrics;
  // With keys (docs/security.md): CURVE on the RPC socket, roles by the key
  // lists, and CURVE toward the nodes' RPC sockets. Plain TCP when null.
  std::shared_ptr<security::Keyring> keyring;
};

class Coordinator {
 public:
  // FAILED_PRECONDITION when the state directory is not usable.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Coordinator>> Create(CoordinatorOptions options);
  ~Coordinator();

  void Start();
  // Stops serving. Unfinished jobs stay in the state directory: running
  // ones keep running on their nodes, which report to the next coordinator.
  void Stop();

  const std::string& endpoint() const { return server_->endpoint(); }
  // Its RPC server, for in-process drivers (the fuzzer calls Handle()).
  rpc::RpcServer& rpc_server() { return *server_; }
  // http://host:port/metrics, or empty when metrics are off.
  std::string metrics_url() const { return metrics_server_ ? metrics_server_->url() : std::string(); }
  rpc::RpcServerStats rpc_stats() const { return server_->stats(); }

 private:
  struct NodeRecord {
    v1::NodeInfo info;
    TimePoint last_heartbeat;
    uint32_t attempt = 0;  // of info.job_id
    double virtual_time = 0;
    uint64_t committed_events = 0;
  };
  // A checkpoint whose parts are still arriving.
  struct PendingCheckpoint {
    std::set<uint32_t> ranks;
    uint64_t bytes = 0;
    double virtual_time = 0;
  };
  struct JobRecord {
    v1::JobInfo info;                          // what is stored
    std::map<uint32_t, v1::NodeShare> shares;  // this attempt's, by rank
    TimePoint started;                         // first start on nodes
    TimePoint waiting_since;                   // RECOVERING, or adopting
    // RUNNING when this coordinator started: its nodes may come back.
    bool adopting = false;
    bool dirty = false;  // the last store write failed; retried
    std::map<std::pair<uint64_t, uint32_t>, PendingCheckpoint> pending_checkpoints;  // (window, attempt)
  };
  struct AbortCall {
    uint32_t node_id;
    std::string endpoint;
    uint64_t job_id;
    uint32_t attempt;
    std::string reason;
    std::string public_key;
  };
  struct Metrics {
    prometheus::Family<prometheus::Counter>* jobs_finished = nullptr;   // {state}
    prometheus::Family<prometheus::Histogram>* job_duration = nullptr;  // {state}
    prometheus::Counter* restarts = nullptr;
    prometheus::Counter* replayed_windows = nullptr;
    prometheus::Counter* checkpoints = nullptr;
    prometheus::Counter* checkpoint_bytes = nullptr;
    prometheus::Histogram* checkpoint_write_seconds = nullptr;
    prometheus::Family<prometheus::Counter>* checkpoint_failures = nullptr;  // {reason}
    prometheus::Counter* state_write_failures = nullptr;
    prometheus::Counter* jobs_refused_memory = nullptr;
  };

  explicit Coordinator(CoordinatorOptions options);
  absl::Status OpenState();
  void RegisterMetrics();
  void RegisterHandlers();
  void RegisterNodeHandlers();
  void RegisterJobHandlers();
  void RegisterCheckpointHandlers();
  // Serves `method` on the RPC server with a handler member function.
  template <typename Request, typename Reply>
  void Serve(const char* method, absl::Status (Coordinator::*handler)(const Request&, Reply*)) {
    server_->Register<Request, Reply>(method, [this, handler](const Request& request, Reply* reply) {
      return (this->*handler)(request, reply);
    });
  }
  // The Coordinator service's handlers, one per method, on the RPC server's
  // thread (node_handlers.cc, job_handlers.cc, checkpoint_handlers.cc).
  absl::Status HandleRegisterNode(const v1::RegisterNodeRequest& request, v1::RegisterNodeReply* reply);
  // Call with mutex_ held. The record of the node at that RPC endpoint, or
  // a new one under its previous id (if free) or the next, stored.
  absl::StatusOr<NodeRecord*> RecordForRegistration(const v1::RegisterNodeRequest& request);
  absl::Status HandleHeartbeat(const v1::HeartbeatRequest& request, v1::HeartbeatReply* reply);
  absl::Status HandleListNodes(const v1::ListNodesRequest&, v1::ListNodesReply* reply);
  absl::Status HandleLeaveNode(const v1::LeaveNodeRequest& request, v1::LeaveNodeReply*);
  absl::Status HandleSubmitJob(const v1::SubmitJobRequest& request, v1::SubmitJobReply* reply);
  absl::Status HandleGetJob(const v1::GetJobRequest& request, v1::GetJobReply* reply);
  absl::Status HandleCancelJob(const v1::CancelJobRequest& request, v1::CancelJobReply* reply);
  absl::Status HandleListModels(const v1::ListModelsRequest&, v1::ListModelsReply* reply);
  absl::Status HandleListJobs(const v1::ListJobsRequest&, v1::ListJobsReply* reply);
  absl::Status HandleReportJob(const v1::ReportJobRequest& request, v1::ReportJobReply*);
  absl::Status HandlePutCheckpoint(const v1::PutCheckpointRequest& request, v1::PutCheckpointReply* reply);
  absl::Status HandleGetCheckpoint(const v1::GetCheckpointRequest& request, v1::GetCheckpointReply* reply);
  void SchedulerLoop();
  void CheckHeartbeats();
  void CheckAdoptions();
  // One job attempt on its way to its nodes (coordinator/assignment.cc).
  struct Assignment {
    uint64_t job_id = 0;
    uint32_t attempt = 0;
    v1::PrepareJobRequest prepare;       // peers by rank; `rank` set per call
    std::vector<std::string> endpoints;  // each rank's rpc endpoint
    std::vector<v1::CheckpointInfo> candidates;
  };
  // What the nodes said when prepared: whose probe each sees, and the
  // mailboxes each subscribed to (by rank).
  struct PreparedRanks {
    std::vector<std::vector<bool>> sees;
    std::vector<std::vector<std::string>> subscribed;
  };
  void AssignNextJob();
  // Call with mutex_ held. The next job that can go and its nodes, claimed
  // (BUSY); none when no job can go yet.
  std::optional<Assignment> ClaimNodes();
  JobRecord* NextJobToAssign();
  void ClaimNode(NodeRecord& node, uint32_t rank, JobRecord& job, Assignment& assignment);
  // The checkpoint a restart resumes from, recorded in the job's restarts.
  void ChooseRestore(Assignment& assignment);
  // Whether the attempt is still ASSIGNING; a failed call at `rank` ends it
  // (a lost node recovers the job, anything else fails it).
  bool AttemptLive(const Assignment& assignment, uint32_t rank, std::string_view step,
                   const absl::Status& status);
  std::optional<PreparedRanks> PrepareNodes(Assignment& assignment);
  bool StartNodes(const Assignment& assignment, const std::vector<std::vector<v1::Transport>>& transports,
                  const std::vector<v1::MailboxRoute>& mailboxes);
  void FailAttempt(const Assignment& assignment, const absl::Status& status);
  void MarkRunning(const Assignment& assignment, size_t mailbox_count);
  // The newest stored checkpoint of `job` that passes its checksums;
  // damaged ones are dropped on the way. None: restart from the start.
  std::optional<v1::CheckpointInfo> PickCheckpoint(uint64_t job_id,
                                                   std::vector<v1::CheckpointInfo> candidates);
  absl::Status CallNode(const v1::PeerInfo& node, const std::string& rpc_endpoint, std::string_view method,
                        const google::protobuf::Message& request, google::protobuf::Message* reply,
                        Duration timeout);
  void SendAborts();
  // Drops the RPC clients of nodes that left (scheduler thread).
  void ForgetGoneNodeClients();

  // The functions below need mutex_.
  // Moves a job to FAILED or CANCELLED and releases its nodes.
  void EndJob(JobRecord& job, v1::JobState state, const std::string& reason);
  // A node of the job's attempt is gone: abort the rest, and restart from
  // the last checkpoint, or fail once max_restarts are spent.
  void BeginRecovery(JobRecord& job, const std::string& reason);
  // What to do when a node of `job_id` is lost, left or failed it.
  void LoseNode(uint64_t job_id, const std::string& reason);
  void AbortAssignedNodes(const JobRecord& job, const std::string& reason);
  void SetJobState(JobRecord& job, v1::JobState state, const std::string& reason);
  void Persist(JobRecord& job);
  void RetryDirtyJobs();
  void CompleteIfDone(JobRecord& job);
  void ForgetOldJobs();
  void CountCheckpointFailure(const absl::Status& status);
  // Counts a job that reached a final state, and its duration when it started.
  void CountJobEnd(const JobRecord& job, v1::JobState state);
  // Counts a stored part toward its checkpoint; when it was the last, records
  // the checkpoint as the job's newest, prunes older ones, and returns true.
  bool RecordStoredPart(JobRecord& job, const v1::PutCheckpointRequest& part, uint32_t ranks, uint64_t bytes);
  v1::JobInfo Snapshot(const JobRecord& job) const;
  // Whether the node has reported its share of the job's current attempt.
  static bool HasReported(const JobRecord& job, uint32_t node_id);
  // Whether the node holds the job's current attempt.
  bool HoldsCurrentAttempt(const NodeRecord& node, const JobRecord& job) const;

  class StateCollector;
  // Adds the gauges of CollectStateMetrics to the metrics server.
  void ServeStateMetrics();
  // Nodes and jobs by state and the state directory's size, read at each
  // scrape.
  std::vector<prometheus::MetricFamily> CollectStateMetrics();

  CoordinatorOptions options_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::shared_ptr<prometheus::Registry> registry_;
  Metrics metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  zmq::context_t context_;
  std::unique_ptr<security::ZapHandler> zap_;  // before server_: it judges its handshakes
  std::unique_ptr<rpc::RpcServer> server_;
  std::thread scheduler_;

  std::mutex mutex_;
  std::condition_variable wake_scheduler_;
  std::map<uint32_t, NodeRecord> nodes_;  // guarded by mutex_
  std::map<uint64_t, JobRecord> jobs_;    // guarded by mutex_; id order is queue order
  std::deque<AbortCall> aborts_;          // guarded by mutex_
  uint32_t next_node_id_ = 1;             // guarded by mutex_; stored
  uint64_t next_job_id_ = 1;              // guarded by mutex_; stored
  bool stop_ = false;                     // guarded by mutex_
  bool node_left_ = false;                // guarded by mutex_; a LeaveNode since the last client cleanup

  // Used by the scheduler thread only.
  std::map<uint32_t, std::unique_ptr<rpc::RpcClient>> node_clients_;
};

std::string_view JobStateName(v1::JobState state);
std::string_view NodeStateName(v1::NodeState state);

}  // namespace meshsim::coordinator
