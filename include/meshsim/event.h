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

// Mailboxes of a job are numbered 0..n-1 in name order, the same on every
// node. A post travels between nodes as one event whose dst_lp is the
// mailbox's address (the id with the top bit set); the receiving node fans
// it out to its own subscribers. LP ids therefore stay below that bit.
using MailboxId = uint32_t;
inline constexpr LpId kMailboxAddressBit = 0x8000'0000u;
inline constexpr uint64_t kMaxLps = kMailboxAddressBit;
inline constexpr size_t kMaxMailboxNameBytes = 255;

constexpr LpId MailboxAddress(MailboxId id) { return kMailboxAddressBit | id; }
constexpr bool IsMailboxAddress(LpId dst) { return (dst & kMailboxAddressBit) != 0; }
constexpr MailboxId MailboxOfAddress(LpId dst) { return dst & ~kMailboxAddressBit; }

}  // namespace meshsim::sim
