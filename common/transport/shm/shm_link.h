// The shared-memory data plane between two nodes of a job on one host: the
// sending node creates one ring per peer (ShmPeerLink); the receiving node
// opens it by name into its ShmFrameInbox and sleeps on its own doorbell,
// which every writer into its rings rings.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/transport/link.h"
#include "common/transport/shm/ring.h"

namespace meshsim::transport::shm {

inline constexpr uint32_t kDefaultRingBytes = 1 << 20;

// The ring from rank `from` to rank `to` of one attempt of `job`, named after the writer's
// probe ("/meshsim.<pid>.probe" -> "/meshsim.<pid>.j<job>a<attempt>.<from>-<to>"), so
// the writer's pid is in the name for the stale-segment sweep.
std::string RingName(const std::string& writer_probe_name, uint64_t job, uint32_t attempt, uint32_t from,
                     uint32_t to);

class ShmPeerLink final : public PeerLink {
 public:
  // Creates the ring; `peer_probe` is the receiver's probe segment (its
  // doorbell). `abort` stops a Send that waits for ring space; while it
  // waits, `while_full` (when set and not empty) is called every few
  // milliseconds, e.g. to read this node's own rings so that two nodes
  // sending to each other never wait on each other.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ShmPeerLink>> Create(
      const std::string& ring_name, uint32_t capacity, uint64_t job_id, ShmSegment peer_probe,
      const std::atomic<bool>* abort, const std::function<void()>* while_full = nullptr);

  absl::Status Send(std::span<const std::byte> frame) override;
  TransportKind kind() const override { return TransportKind::kShm; }
  int64_t queued_bytes() const override { return static_cast<int64_t>(ring_.occupancy()); }
  const RingWriter& ring() const { return ring_; }

 private:
  ShmPeerLink(RingWriter ring, ShmSegment peer_probe, const std::atomic<bool>* abort,
              const std::function<void()>* while_full);
  RingWriter ring_;
  ShmSegment peer_probe_;
  Doorbell doorbell_;
  const std::atomic<bool>* abort_;
  const std::function<void()>* while_full_;
};

// The receiving side of a node's shm links for one job: the inbound rings,
// each tagged with the source (peer rank) that writes it, and the node's
// doorbell to sleep on while every ring is empty.
//
// Thread-safety: one thread, as a RingReader.
class ShmFrameInbox final : public FrameInbox {
 public:
  explicit ShmFrameInbox(Doorbell doorbell) : doorbell_(doorbell) {}

  // Opens the ring `name` (of attempt `run_id`) that `source` writes,
  // waiting up to `deadline` for its creator to make it. ABORTED when
  // `abort` is set meanwhile; DEADLINE_EXCEEDED when it never appears.
  [[nodiscard]] absl::Status OpenRing(const std::string& name, uint64_t run_id, uint32_t source,
                                      Deadline deadline, const std::atomic<bool>& abort);

  // Takes a whole message from any ring, polling, then waiting on the
  // doorbell up to `timeout` (ring.cc, "How a waiting side waits").
  absl::StatusOr<bool> Receive(std::vector<std::byte>* frame, Duration timeout) override;
  int last_source() const override { return last_source_; }

  bool empty() const { return rings_.empty(); }
  // Frames taken so far, by how far the wait for each went (indexed by
  // WaitPhase; kNone: it was there at the first look).
  const std::array<uint64_t, kWaitPhases>& frame_waits() const { return frame_waits_; }

 private:
  struct InboundRing {
    uint32_t source;
    RingReader reader;
  };
  // One pass over every ring; true when one gave a whole message.
  absl::StatusOr<bool> TryReadAny(std::vector<std::byte>* frame);

  Doorbell doorbell_;
  std::vector<InboundRing> rings_;
  int last_source_ = -1;
  std::array<uint64_t, kWaitPhases> frame_waits_{};
};

}  // namespace meshsim::transport::shm
