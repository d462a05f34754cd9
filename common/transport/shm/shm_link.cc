#include "common/transport/shm/shm_link.h"

#include "common/transport/shm/probe.h"
#include "meshsim/format.h"

namespace meshsim::transport::shm {

std::string RingName(const std::string& writer_probe_name, uint64_t job, uint32_t attempt, uint32_t from,
                     uint32_t to) {
  std::string prefix = writer_probe_name;
  if (const size_t dot = prefix.rfind(".probe"); dot != std::string::npos) prefix.resize(dot);
  return StrCat(prefix, ".j", job, "a", attempt, ".", from, "-", to);
}

absl::StatusOr<std::unique_ptr<ShmPeerLink>> ShmPeerLink::Create(const std::string& ring_name,
                                                                 uint32_t capacity, uint64_t job_id,
                                                                 ShmSegment peer_probe,
                                                                 const std::atomic<bool>* abort) {
  auto ring = RingWriter::Create(ring_name, capacity, job_id);
  if (!ring.ok()) return ring.status();
  return std::unique_ptr<ShmPeerLink>(new ShmPeerLink(std::move(*ring), std::move(peer_probe), abort));
}

ShmPeerLink::ShmPeerLink(RingWriter ring, ShmSegment peer_probe, const std::atomic<bool>* abort)
    : ring_(std::move(ring)),
      peer_probe_(std::move(peer_probe)),
      doorbell_(ColocationProbe::Descriptor(peer_probe_)),
      abort_(abort) {}

absl::Status ShmPeerLink::Send(std::span<const std::byte> frame) {
  // Relaxed: the flag publishes nothing but itself.
  return ring_.Write(frame, doorbell_, [this] { return abort_->load(std::memory_order_relaxed); });
}

}  // namespace meshsim::transport::shm
