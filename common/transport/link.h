// The data-plane seam: how frames move between the nodes of a job.
//
// A PeerLink is the sending end of one directed link (this node -> one
// peer); a FrameInbox is where frames from a set of peers arrive. ZeroMQ
// TCP (zmq/zmq_link.h) and shared-memory rings (shm/shm_link.h) implement
// both; node/peer_links.h combines one of each into a job's data plane.
//
// Ownership: Send copies the frame; the caller keeps its buffer. Receive
// copies into the caller's buffer, reusing its capacity, so a steady stream
// of frames allocates nothing once buffers have grown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/time/clock.h"

namespace meshsim::transport {

enum class TransportKind { kTcp, kShm };

constexpr std::string_view TransportKindName(TransportKind kind) {
  return kind == TransportKind::kShm ? "shm" : "tcp";
}

class PeerLink {
 public:
  virtual ~PeerLink() = default;
  // Sends one frame. UNAVAILABLE when the peer does not take it in time.
  [[nodiscard]] virtual absl::Status Send(std::span<const std::byte> frame) = 0;
  virtual TransportKind kind() const = 0;
  // Bytes sent and not yet taken by the peer, where the link can tell
  // (a shared-memory ring); -1 where it cannot.
  virtual int64_t queued_bytes() const { return -1; }
};

class FrameInbox {
 public:
  virtual ~FrameInbox() = default;
  // Waits up to `timeout` for one frame from any sender and copies it into
  // *frame. Returns false when nothing arrived in time.
  [[nodiscard]] virtual absl::StatusOr<bool> Receive(std::vector<std::byte>* frame, Duration timeout) = 0;
  // The authenticated sender (CURVE public key, Z85) of the frame the last
  // Receive returned; empty where the transport does not authenticate.
  virtual std::string_view last_sender() const { return {}; }
  // The channel the last frame came through, where the transport knows it
  // from the channel itself (an shm ring is written only by its creator):
  // the source number the channel was added with; -1 where it cannot tell.
  virtual int last_source() const { return -1; }
};

}  // namespace meshsim::transport
