// Runs one node's part of one job: puts together the job's kernel, its data
// plane (node/peer_links.h), its checkpoints (node/job_checkpoints.h) and
// metrics (node/job_metrics.h), and hands them to the sync protocol the
// scenario asks for (node/sync_protocol.h), which runs the job.
//
// Life of a runner: Create (the model's Init, or a checkpoint's restore,
// and the co-location probes) -> InstallMailboxes and ConnectLinks (from
// the coordinator's StartJob) -> Run, on the node's data thread.
//
// Thread-safety: Run() on one thread; progress(), frames_dropped() and
// RequestAbort() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/frame/frame_codec.h"
#include "common/process/process_memory.h"
#include "common/sim/kernel.h"
#include "node/job_checkpoints.h"
#include "node/job_metrics.h"
#include "node/peer_links.h"
#include "node/sync_protocol.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::node {

struct JobSetup {
  uint64_t job_id = 0;
  uint32_t attempt = 1;  // 1 for the first run, +1 per restart
  uint32_t node_id = 0;
  v1::Scenario scenario;  // normalized
  uint32_t rank = 0;
  std::vector<v1::PeerInfo> peers;               // indexed by rank, this node included
  std::string probe_name;                        // this node's co-location probe
  transport::shm::Doorbell* doorbell = nullptr;  // this node's; rung by peers' shm writes
  // A restart: every part of the checkpoint to resume from (in place of init).
  std::vector<std::vector<std::byte>> restore_parts;

  // The attempt's name on the data plane (frames and shm rings).
  uint64_t run_id() const { return frame::RunId(job_id, attempt); }
};

struct JobRunnerOptions {
  // A job fails when no expected frame arrives for this long.
  Duration stall_timeout = std::chrono::seconds(30);
  // How long a final frame may take to leave when links close.
  Duration link_linger = std::chrono::seconds(5);
  // Published once per window; none when null.
  NodeMetrics* metrics = nullptr;
  // Takes the checkpoint parts this node saves; no checkpoints when null.
  CheckpointClient* checkpoints = nullptr;
  // With keys: tcp links are CURVE clients with this node's pair, and a
  // frame counts only if its sender's key is that of the rank it claims.
  std::shared_ptr<security::Keyring> keyring;
};

class JobRunner {
 public:
  // Builds the kernel, runs the model's init (or restores the checkpoint
  // in setup.restore_parts) and opens every peer's co-location probe.
  // `inbox` is the node's TCP data inbox; it must outlive the runner, and
  // only Run() reads it. Links come later, from ConnectLinks().
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<JobRunner>> Create(JobSetup setup,
                                                                         JobRunnerOptions options,
                                                                         zmq::context_t& context,
                                                                         transport::FrameInbox* inbox);
  ~JobRunner();

  // Ranks whose probe this node opened with the right token.
  const std::vector<uint32_t>& colocated_ranks() const { return links_->colocated_ranks(); }
  // Mailboxes this node's LPs subscribed to during init (which Create ran).
  const std::vector<std::string>& subscribed_mailboxes() const { return subscribed_mailboxes_; }

  // Installs the job's mailbox table (from the coordinator) and sends the
  // posts made during init.
  [[nodiscard]] absl::Status InstallMailboxes(
      const google::protobuf::RepeatedPtrField<v1::MailboxRoute>& mailboxes);

  // Creates the sending end of the link to each peer, over the transport
  // the coordinator chose (indexed by rank).
  [[nodiscard]] absl::Status ConnectLinks(const std::vector<v1::Transport>& transports) {
    return links_->Connect(transports);
  }

  // Runs the job to its end. ABORTED after RequestAbort(); other errors name
  // the cause (a model error, a stalled peer, a link failure).
  [[nodiscard]] absl::StatusOr<v1::NodeShare> Run();

  // Hands over a frame that reached the node before Run() started (a peer
  // may start first). Call before Run(), from the thread that will run it.
  // `sender`: the key it came with over tcp (empty without keys).
  void AdoptEarlyFrame(std::vector<std::byte> frame, std::string sender) {
    links_->AdoptEarlyFrame(std::move(frame), std::move(sender));
  }

  void RequestAbort() { abort_.store(true, std::memory_order_relaxed); }
  JobProgress progress() const { return metrics_.progress(); }
  uint64_t job_id() const { return setup_.job_id; }
  uint32_t attempt() const { return setup_.attempt; }
  const std::string& model_name() const { return setup_.scenario.model(); }
  // Data frames this runner dropped as malformed, stale or unexpected.
  uint64_t frames_dropped() const { return links_->frames_dropped(); }

 private:
  JobRunner(JobSetup setup, JobRunnerOptions options, sim::PartitionMap partition);
  absl::Status BuildKernel(std::unique_ptr<sim::Model> model);
  // Runs Init, or restores the checkpoint in setup_.restore_parts.
  absl::Status InitOrRestore();
  v1::NodeShare Share(const RunSummary& summary);
  // The kernel's memory by part and the process's peak since Create.
  v1::MemoryStats Memory() const;

  JobSetup setup_;
  JobRunnerOptions options_;
  sim::PartitionMap partition_;
  frame::DecodeLimits limits_;
  JobMetrics metrics_;
  std::unique_ptr<PeerLinks> links_;
  std::unique_ptr<JobCheckpoints> checkpoints_;
  JobParts parts_;
  std::unique_ptr<SyncProtocol> protocol_;  // the kernel's sink: destroyed after it
  std::unique_ptr<sim::Kernel> kernel_;
  std::vector<std::string> subscribed_mailboxes_;
  RunStart start_;

  // Set by RequestAbort() from another thread, polled by Run(): relaxed, it
  // publishes nothing else.
  std::atomic<bool> abort_{false};
};

// Why a job failed when model code (or the kernel under it) threw while
// the node `node_name` was `during` something ("while running"): a
// std::bad_alloc is the node running out of memory (RESOURCE_EXHAUSTED,
// with its peak RSS and its limit), anything else the model's error.
absl::Status ModelThrew(std::exception_ptr exception, std::string_view node_name, std::string_view model,
                        std::string_view during, const process::MemoryLimit& limit);

}  // namespace meshsim::node
