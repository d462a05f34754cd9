// Runs one node's part of one job: the windowed conservative loop of
// DESIGN.md §2 over the node's kernel and its data links.
//
//   exchange window 0 (events sent by init), T = global min next time
//   while T < end_time:
//     process local events with time < T + lookahead
//     send each peer one frame (its events + this node's next-time bound),
//     wait for one frame from each peer, enqueue their events,
//     T = min over all nodes' next-time bounds
//
// Every node computes the same T from the same frames, so no coordinator
// round trip sits in the loop.
//
// Thread-safety: Run() on one thread; progress(), RequestAbort() from any.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/frame/frame_codec.h"
#include "common/security/curve_keys.h"
#include "common/sim/kernel.h"
#include "common/transport/link.h"
#include "common/transport/shm/ring.h"
#include "node/node_metrics.h"
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

class CheckpointClient;

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

struct JobProgress {
  double virtual_time = 0;
  uint64_t committed_events = 0;
  uint64_t windows = 0;
};

class JobRunner final : private sim::RemoteSink {
 public:
  // Builds the kernel, runs the model's init (or restores the checkpoint
  // in setup.restore_parts) and opens every peer's co-location probe.
  // `inbox` is
  // the node's TCP data inbox; it must outlive the runner, and only Run()
  // reads it. Links come later, from ConnectLinks().
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<JobRunner>> Create(JobSetup setup,
                                                                         JobRunnerOptions options,
                                                                         zmq::context_t& context,
                                                                         transport::FrameInbox* inbox);
  // Removes the job's shared-memory rings, both directions.
  ~JobRunner() override;

  // Ranks whose probe this node opened with the right token.
  const std::vector<uint32_t>& colocated_ranks() const { return colocated_ranks_; }
  // Mailboxes this node's LPs subscribed to during init (which Create ran).
  const std::vector<std::string>& subscribed_mailboxes() const { return subscribed_mailboxes_; }

  // Installs the job's mailbox table (from the coordinator) and sends the
  // posts made during init.
  [[nodiscard]] absl::Status InstallMailboxes(
      const google::protobuf::RepeatedPtrField<v1::MailboxRoute>& mailboxes);

  // Creates the sending end of the link to each peer, over the transport
  // the coordinator chose (indexed by rank).
  [[nodiscard]] absl::Status ConnectLinks(const std::vector<v1::Transport>& transports);

  // Runs the job to its end. ABORTED after RequestAbort(); other errors name
  // the cause (a model error, a stalled peer, a link failure).
  [[nodiscard]] absl::StatusOr<v1::NodeShare> Run();

  // Hands over a frame that reached the node before Run() started (a peer
  // may start first). Call before Run(), from the thread that will run it.
  // `sender`: the key it came with over tcp (empty without keys).
  void AdoptEarlyFrame(std::vector<std::byte> frame, std::string sender) {
    early_frames_.push_back({std::move(frame), std::move(sender)});
  }

  void RequestAbort() { abort_.store(true, std::memory_order_relaxed); }
  JobProgress progress() const;
  uint64_t job_id() const { return setup_.job_id; }
  uint32_t attempt() const { return setup_.attempt; }
  const std::string& model_name() const { return setup_.scenario.model(); }
  // Data frames this runner dropped as malformed, stale or unexpected.
  uint64_t frames_dropped() const { return frames_dropped_.load(std::memory_order_relaxed); }

 private:
  struct Peer {
    std::unique_ptr<transport::PeerLink> link;        // null for this node's own rank
    std::optional<transport::shm::ShmSegment> probe;  // the peer's, if it opened with the right token
    std::optional<transport::shm::RingReader> ring;   // inbound, for an shm link
    std::string inbound_ring_name;                    // set for an shm link
    frame::FrameWriter writer;
    std::vector<std::byte> stash;  // a frame of the next window, received early
    bool stashed = false;
    bool received = false;  // this window's frame is in
    v1::LinkStats stats;
    // This link's metrics (when the node has metrics), labelled by peer
    // node and transport.
    prometheus::Counter* messages_sent = nullptr;
    prometheus::Counter* bytes_sent = nullptr;
    prometheus::Counter* events_sent = nullptr;
    prometheus::Counter* messages_received = nullptr;
    prometheus::Counter* bytes_received = nullptr;
    prometheus::Gauge* ring_occupancy = nullptr;
  };

  JobRunner(JobSetup setup, JobRunnerOptions options, transport::FrameInbox* inbox,
            sim::PartitionMap partition);
  void Route(uint32_t rank, const sim::Event& event) override;
  // Takes the kernel's state from setup_.restore_parts, in place of init.
  absl::Status Restore();
  // Sends this window's frames and collects the peers'; returns the global
  // minimum next event time. `want_checkpoint` asks every node to save a
  // checkpoint at this barrier; checkpoint_agreed_ says whether any did.
  absl::StatusOr<double> Exchange(uint64_t window, double sent_floor, bool want_checkpoint = false);
  // Whether this node asks for a checkpoint at the next barrier.
  bool WantCheckpoint() const;
  // Saves this node's part of the checkpoint at the barrier after `window`
  // and hands it to the checkpoint client.
  void SaveCheckpoint(uint64_t window, double next_time);
  // Takes one frame for `window`: delivers it, stashes it, or drops it.
  // Returns true when it was this window's frame from a peer.
  // Where a received frame came from: a peer's ring, or the tcp inbox with
  // the sender's authenticated key (empty without keys).
  struct FrameOrigin {
    int ring_rank = -1;
    std::string_view sender;
    bool verified = false;  // checked already (a stashed frame)
  };
  bool Accept(std::vector<std::byte>& bytes, const FrameOrigin& origin, uint64_t window, double sent_floor,
              double* global_next);
  // With keys: the frame's claimed source rank must be who sent it.
  bool Authentic(uint32_t source_rank, const FrameOrigin& origin);
  bool Deliver(std::span<const std::byte> bytes, double sent_floor, double* global_next);
  // Opens the inbound ring of every shm peer, waiting for peers that have
  // not created theirs yet.
  absl::Status OpenInboundRings();
  // Waits up to `timeout` for a frame from any link: shm rings and the TCP
  // inbox.
  absl::StatusOr<bool> ReceiveAny(std::vector<std::byte>* out, Duration timeout);
  void Drop(std::string_view why);
  void PublishProgress(double virtual_time);
  // Labels each link's metrics once its transport is known.
  void BindLinkMetrics(Peer& peer, uint32_t peer_node, std::string_view transport);
  // Publishes what the last window did to the node's metrics.
  void PublishWindow(double virtual_time, double window_seconds);

  JobSetup setup_;
  JobRunnerOptions options_;
  transport::FrameInbox* inbox_;
  sim::PartitionMap partition_;
  std::unique_ptr<sim::Kernel> kernel_;
  std::vector<Peer> peers_;  // by rank
  std::vector<std::byte> incoming_;
  FrameOrigin incoming_origin_;  // of incoming_, set by ReceiveAny
  // Window-0 frames from before Run(), with their senders' keys.
  std::vector<std::pair<std::vector<std::byte>, std::string>> early_frames_;
  zmq::context_t* context_ = nullptr;
  std::vector<uint32_t> colocated_ranks_;
  std::vector<std::string> subscribed_mailboxes_;
  // Where Run() starts: after init, window 0 at time 0; after a restore,
  // the checkpoint's window and next window start.
  bool restored_ = false;
  uint64_t start_window_ = 0;
  double start_next_ = 0;
  // Checkpoints: when the last one was asked for, and whether a frame of
  // the window being exchanged asked for one.
  TimePoint last_checkpoint_;
  bool checkpoint_agreed_ = false;
  bool has_tcp_links_ = false;
  bool has_shm_links_ = false;
  double min_sent_time_;  // over events routed to peers this window
  // What PublishWindow() published so far, to publish differences.
  uint64_t published_events_ = 0;
  sim::MailboxCounters published_mailboxes_;
  // Frames taken from shm rings, by how far the wait for them went
  // (indexed by transport::shm::WaitPhase, as NodeMetrics::frame_waits).
  std::array<uint64_t, transport::shm::kWaitPhases> frame_waits_{};
  std::array<uint64_t, transport::shm::kWaitPhases> published_frame_waits_{};
  frame::DecodeLimits limits_;

  // Set by RequestAbort() from another thread, polled by Run(): relaxed, it
  // publishes nothing else.
  std::atomic<bool> abort_{false};
  // Progress counters read by the heartbeat thread: relaxed, each value
  // stands alone.
  std::atomic<double> virtual_time_{0};
  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> windows_done_{0};
  std::atomic<uint64_t> frames_dropped_{0};
};

}  // namespace meshsim::node
