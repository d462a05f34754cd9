// One job's data plane on one node: a frame sink and a frame source toward
// every peer rank, over shared-memory rings where the peer shares this
// host (its co-location probe opened with the right token) and ZeroMQ TCP
// otherwise. Both directions go through common/transport/link.h: a
// PeerLink per peer out, and in an ShmFrameInbox (this job's rings) beside
// the node's TCP FrameInbox. Sync protocols (node/sync_protocol.h) send
// and receive frames here and know nothing of transports.
//
// Also here, because they belong to the link a frame came over: per-link
// statistics and metrics, the check that a frame's claimed source is the
// peer that sent it (with keys), and the count of dropped frames.
//
// Lifetime: the job's shm rings, both directions, are removed when this
// object is destroyed, whichever side goes first, or if the peer died.
// Thread-safety: one thread (the job's), except frames_dropped().
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/security/curve_keys.h"
#include "common/transport/link.h"
#include "common/transport/shm/shm_link.h"
#include "node/node_metrics.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::node {

// Who a job's frames are between: this node and its peers, by rank.
struct PeerSet {
  uint64_t job_id = 0;
  uint32_t attempt = 0;
  uint64_t run_id = 0;  // frame::RunId(job_id, attempt): the attempt's name on the wire
  uint32_t node_id = 0;
  uint32_t rank = 0;
  std::vector<v1::PeerInfo> peers;               // by rank, this node included
  std::string probe_name;                        // this node's co-location probe; empty: no shm here
  transport::shm::Doorbell* doorbell = nullptr;  // this node's; rung by peers' shm writes
};

struct PeerLinksOptions {
  Duration stall_timeout = std::chrono::seconds(30);  // how long a send may wait for the peer
  Duration link_linger = std::chrono::seconds(5);     // for a final frame when links close
  NodeMetrics* metrics = nullptr;                     // none when null
  std::shared_ptr<security::Keyring> keyring;         // CURVE on tcp links, frame authentication
};

// Where a received frame came from: a peer's ring, or the tcp inbox with
// the sender's authenticated key (empty without keys).
// The sender view lives until the next Receive.
struct FrameOrigin {
  int ring_rank = -1;
  std::string_view sender;
  bool verified = false;  // authenticated already (e.g. a frame kept for later)
};

class PeerLinks {
 public:
  // Opens every peer's co-location probe (those that open with the right
  // token are co-located). `tcp_inbox` is the node's data inbox; it must
  // outlive this object. `abort` stops waits for rings and ring space.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PeerLinks>> Create(PeerSet peers,
                                                                         PeerLinksOptions options,
                                                                         zmq::context_t& context,
                                                                         transport::FrameInbox* tcp_inbox,
                                                                         const std::atomic<bool>* abort);
  ~PeerLinks();
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  // Ranks whose probe this node opened with the right token.
  const std::vector<uint32_t>& colocated_ranks() const { return colocated_ranks_; }
  uint32_t ranks() const { return static_cast<uint32_t>(peers_.size()); }
  // After Connect: whether the link to `rank` is an shm ring.
  bool is_shm(uint32_t rank) const {
    return peers_[rank].link != nullptr && peers_[rank].link->kind() == transport::TransportKind::kShm;
  }
  uint32_t own_rank() const { return set_.rank; }

  // Creates the sending end of the link to each peer, over the transport
  // the coordinator chose (indexed by rank).
  [[nodiscard]] absl::Status Connect(const std::vector<v1::Transport>& transports);
  // Opens the inbound ring of every shm peer, waiting for peers that have
  // not created theirs yet (up to the stall timeout).
  [[nodiscard]] absl::Status OpenInbound();

  // Sends `frame`, holding `events` events, to `rank`. While it waits for
  // room in a full shm ring, this node's own rings are read and their
  // frames held for Receive: the peer may be waiting the same way on its
  // ring to this node (a window's frames larger than a ring, or optimistic
  // nodes that send without a barrier). ZeroMQ sends queue and never wait.
  [[nodiscard]] absl::Status Send(uint32_t rank, std::span<const std::byte> frame, uint32_t events);
  // Waits up to `timeout` for a frame from any peer; frames handed over by
  // AdoptEarlyFrame and frames held while a send waited come first, in the
  // order they arrived.
  [[nodiscard]] absl::StatusOr<bool> Receive(std::vector<std::byte>* out, FrameOrigin* origin,
                                             Duration timeout);
  // A frame that reached the node's inbox before the job ran.
  void AdoptEarlyFrame(std::vector<std::byte> frame, std::string sender);

  // With keys: whether a frame claiming `source_rank` was sent by it;
  // a frame that was not is dropped (and counted) here.
  bool Authentic(uint32_t source_rank, const FrameOrigin& origin);
  // Counts an accepted frame from `rank` in its link's metrics.
  void CountReceived(uint32_t rank, size_t bytes);
  // Counts and logs a frame the job could not take.
  void Drop(std::string_view why);
  uint64_t frames_dropped() const { return frames_dropped_.load(std::memory_order_relaxed); }

  // Ring occupancy and frame waits to the node's metrics (once a window).
  void PublishMetrics();
  // Per outbound link: transport, messages, bytes, events.
  std::vector<v1::LinkStats> stats() const;

 private:
  struct Peer {
    std::unique_ptr<transport::PeerLink> link;        // null for this node's own rank
    std::optional<transport::shm::ShmSegment> probe;  // the peer's, if it opened with the right token
    std::string inbound_ring_name;                    // set for an shm link
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
  // A frame taken before Receive asked: adopted from the node's inbox
  // (tcp, with its sender) or read from a ring while a send waited.
  struct EarlyFrame {
    std::vector<std::byte> bytes;
    std::string sender;
    int ring_rank = -1;
  };

  PeerLinks(PeerSet peers, PeerLinksOptions options, zmq::context_t& context,
            transport::FrameInbox* tcp_inbox, const std::atomic<bool>* abort);
  void OpenProbes();
  // Falls back to tcp between co-located peers when /dev/shm cannot hold
  // this host's rings.
  void CheckShmSpace();
  absl::Status ConnectShm(uint32_t rank);
  absl::Status ConnectTcp(uint32_t rank);
  void BindLinkMetrics(Peer& peer, uint32_t peer_node, std::string_view transport);
  // The send-wait hook: moves what this node's rings hold to early_frames_.
  void HoldIncomingWhileSendWaits();

  PeerSet set_;
  PeerLinksOptions options_;
  zmq::context_t* context_;
  transport::FrameInbox* tcp_inbox_;
  const std::atomic<bool>* abort_;
  std::function<void()> send_wait_hook_;  // before peers_: the shm links point at it
  absl::Status held_error_;               // a ring read that failed in the hook, returned by Receive
  std::vector<Peer> peers_;               // by rank
  std::vector<uint32_t> colocated_ranks_;
  std::optional<transport::shm::ShmFrameInbox> shm_inbox_;
  std::deque<EarlyFrame> early_frames_;
  std::string early_sender_;  // of the early frame Receive returned last
  bool has_tcp_links_ = false;
  bool has_shm_links_ = false;
  // What PublishMetrics() published of the shm inbox's frame waits.
  std::array<uint64_t, transport::shm::kWaitPhases> published_frame_waits_{};
  // Read by the node's heartbeat: relaxed, it stands alone.
  std::atomic<uint64_t> frames_dropped_{0};
};

}  // namespace meshsim::node
