// A simulation event as models and the kernel see it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace meshsim::sim {

using LpId = uint32_t;

// Events at one LP are processed in the total order (time, src_lp, src_seq),
// which does not depend on how LPs are partitioned over nodes. `src_seq`
// counts the events `src_lp` has sent (starting at 0).
struct Event {
  double time = 0;
  LpId dst_lp = 0;
  LpId src_lp = 0;
  uint64_t src_seq = 0;
  // Valid only for the duration of the callback that receives the event.
  std::span<const std::byte> payload;
};

// Largest payload an event may carry (bytes); the wire format allows 65535.
inline constexpr size_t kMaxEventPayloadBytes = 4096;

// LP ids stay below 2^31: the rest of the id space is the runtime's own.
inline constexpr uint64_t kMaxLps = uint64_t{1} << 31;

}  // namespace meshsim::sim
