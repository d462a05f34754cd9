// How a mailbox post travels between nodes (runtime-internal; models see
// only mailbox names). Mailboxes of a job are numbered 0..n-1 in name
// order, the same on every node. A post crosses to another node as one
// event whose dst_lp is the mailbox's address (the id with the top bit
// set); the receiving node fans it out to its own subscribers. LP ids
// stay below that bit (meshsim/event.h kMaxLps). In the wire layer, since
// the frame codec checks addresses; in namespace sim, since mailboxes are
// the kernel's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "meshsim/event.h"

namespace meshsim::sim {

using MailboxId = uint32_t;
inline constexpr LpId kMailboxAddressBit = 0x8000'0000u;
static_assert(kMailboxAddressBit == kMaxLps, "LP ids and mailbox addresses share the 32-bit id space");
inline constexpr size_t kMaxMailboxNameBytes = 255;

constexpr LpId MailboxAddress(MailboxId id) { return kMailboxAddressBit | id; }
constexpr bool IsMailboxAddress(LpId dst) { return (dst & kMailboxAddressBit) != 0; }
constexpr MailboxId MailboxOfAddress(LpId dst) { return dst & ~kMailboxAddressBit; }

}  // namespace meshsim::sim
