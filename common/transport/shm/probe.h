// The co-location probe: a small segment each node publishes for its whole
// life, holding a random token and the node's doorbell. A peer that can open
// the segment and read the same token as the coordinator announced shares
// this node's host and IPC namespace, so the pair can use shared memory.
// Hostnames are never used to decide.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/transport/shm/ring.h"
#include "common/transport/shm/shm_segment.h"

namespace meshsim::transport::shm {

class ColocationProbe {
 public:
  // Creates this process's probe with a fresh random token. `what` names
  // the segment (SegmentName(what)); a node has one, named "probe".
  [[nodiscard]] static absl::StatusOr<ColocationProbe> Create(const std::string& what = "probe");

  // Opens a peer's probe and checks its token. NOT_FOUND when the segment
  // is not visible here (another host or IPC namespace), FAILED_PRECONDITION
  // when a segment of that name holds another token.
  [[nodiscard]] static absl::StatusOr<ShmSegment> OpenPeer(const std::string& name,
                                                           const std::string& token_hex);

  const std::string& name() const { return segment_.name(); }
  const std::string& token_hex() const { return token_hex_; }
  Doorbell doorbell() const { return Doorbell(Descriptor(segment_)); }

  static ProbeDescriptor* Descriptor(const ShmSegment& segment) {
    return reinterpret_cast<ProbeDescriptor*>(segment.data());
  }

 private:
  ColocationProbe(ShmSegment segment, std::string token_hex)
      : segment_(std::move(segment)), token_hex_(std::move(token_hex)) {}
  ShmSegment segment_;
  std::string token_hex_;
};

}  // namespace meshsim::transport::shm
