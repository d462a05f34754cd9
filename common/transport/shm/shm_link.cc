#include "common/transport/shm/shm_link.h"

#include <algorithm>
#include <optional>
#include <thread>

#include "common/strings/format.h"
#include "common/transport/shm/probe.h"

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
                                                                 const std::atomic<bool>* abort,
                                                                 const std::function<void()>* while_full) {
  auto ring = RingWriter::Create(ring_name, capacity, job_id);
  if (!ring.ok()) return ring.status();
  return std::unique_ptr<ShmPeerLink>(
      new ShmPeerLink(std::move(*ring), std::move(peer_probe), abort, while_full));
}

ShmPeerLink::ShmPeerLink(RingWriter ring, ShmSegment peer_probe, const std::atomic<bool>* abort,
                         const std::function<void()>* while_full)
    : ring_(std::move(ring)),
      peer_probe_(std::move(peer_probe)),
      doorbell_(ColocationProbe::Descriptor(peer_probe_)),
      abort_(abort),
      while_full_(while_full) {}

absl::Status ShmPeerLink::Send(std::span<const std::byte> frame) {
  return ring_.Write(frame, doorbell_, [this] {
    // Relaxed: the flag publishes nothing but itself.
    if (abort_->load(std::memory_order_relaxed)) return true;
    if (while_full_ != nullptr && *while_full_) (*while_full_)();
    return false;
  });
}

absl::Status ShmFrameInbox::OpenRing(const std::string& name, uint64_t run_id, uint32_t source,
                                     Deadline deadline, const std::atomic<bool>& abort) {
  for (;;) {
    auto ring = RingReader::Open(name, run_id);
    if (ring.ok()) {
      rings_.push_back({source, std::move(*ring)});
      return absl::OkStatus();
    }
    // Not there yet, or still being set up by its creator: wait for it.
    if (!absl::IsNotFound(ring.status()) && !absl::IsUnavailable(ring.status())) return ring.status();
    // Relaxed: the flag publishes nothing but itself.
    if (abort.load(std::memory_order_relaxed)) return absl::AbortedError("job aborted");
    if (deadline.Expired()) {
      return absl::DeadlineExceededError(StrCat("source ", source, " did not create its shm ring ", name));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

absl::StatusOr<bool> ShmFrameInbox::TryReadAny(std::vector<std::byte>* frame) {
  for (InboundRing& ring : rings_) {
    auto got = ring.reader.TryRead(frame);
    if (!got.ok() || !*got) {
      if (!got.ok()) return got.status();
      continue;
    }
    last_source_ = static_cast<int>(ring.source);
    return true;
  }
  return false;
}

absl::StatusOr<bool> ShmFrameInbox::Receive(std::vector<std::byte>* frame, Duration timeout) {
  last_source_ = -1;
  auto any_ring_has_data = [this] {
    for (const InboundRing& ring : rings_) {
      if (ring.reader.HasData()) return true;
    }
    return false;
  };
  // How long this frame kept the node waiting: the furthest phase any
  // doorbell wait below reached. The clock is read only once a look finds
  // nothing: a frame usually is there, and the read would cost about as
  // much as taking it.
  auto waited = WaitPhase::kNone;
  std::optional<Deadline> deadline;
  for (;;) {
    auto got = TryReadAny(frame);
    if (!got.ok() || *got) {
      if (got.ok()) ++frame_waits_[static_cast<size_t>(waited)];
      return got;
    }
    if (!deadline) deadline = Deadline::After(timeout);
    if (deadline->Expired()) return false;
    waited = std::max(waited, doorbell_.Wait(any_ring_has_data, deadline->Remaining()));
  }
}

}  // namespace meshsim::transport::shm
