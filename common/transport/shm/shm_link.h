// The shared-memory data plane between two nodes of a job on one host: the
// sending node creates one ring per peer (ShmPeerLink); the receiving node
// opens it by name (OpenInboundRing) and sleeps on its own doorbell, which
// every writer into its rings rings.
#pragma once

#include <atomic>
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
  // doorbell). `abort` stops a Send that waits for ring space.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ShmPeerLink>> Create(const std::string& ring_name,
                                                                           uint32_t capacity, uint64_t job_id,
                                                                           ShmSegment peer_probe,
                                                                           const std::atomic<bool>* abort);

  absl::Status Send(std::span<const std::byte> frame) override;
  TransportKind kind() const override { return TransportKind::kShm; }
  int64_t queued_bytes() const override { return static_cast<int64_t>(ring_.occupancy()); }
  const RingWriter& ring() const { return ring_; }

 private:
  ShmPeerLink(RingWriter ring, ShmSegment peer_probe, const std::atomic<bool>* abort);
  RingWriter ring_;
  ShmSegment peer_probe_;
  Doorbell doorbell_;
  const std::atomic<bool>* abort_;
};

}  // namespace meshsim::transport::shm
