// A checkpoint part: one rank's LPs and pending events at a window barrier
// (docs/checkpoints.md). All integers and doubles are little-endian; fields
// are unaligned and read with memcpy.
//
// Header (kHeaderBytes):
//   off  size  field
//    0    4    magic          kMagic ("MSCP")
//    4    2    version        kVersion
//    6    2    header_bytes   kHeaderBytes
//    8    8    job_id
//   16    4    attempt        the attempt that wrote it
//   20    4    rank           the writer's rank in that attempt
//   24    4    ranks          ranks of that attempt (parts in the checkpoint)
//   28    4    state_bytes    the model's per-LP state size, for a sanity check
//   32    8    window         taken at the barrier after this window
//   40    8    next_time      start of the next window (the same on every rank)
//   48    8    lp_count       LPs in the whole job
//   56    8    lp_records     LP records that follow the header
//   64    8    event_records  event records that follow the LP records
//   72    8    mailbox_posts        the writer's mailbox counters so far
//   80    8    mailbox_deliveries
//   88    8    mailbox_remote_events
// LP record (ascending lp):
//    0    4    lp
//    4    8    rng_state
//   12    8    rng_gamma
//   20    8    sent           events the LP has sent (its next src_seq)
//   28    8    processed      events the LP has processed
//   36    4    state_len
//   40    n    state          what Model::SaveState wrote
// Event record: the data-plane frame's event layout (frame_format.h).
// Trailer (kTrailerBytes):
//    0    4    crc32          zlib CRC-32 of every byte before the trailer
//    4    4    end magic      kEndMagic ("MSCE")
#pragma once

#include <cstddef>
#include <cstdint>

namespace meshsim::checkpoint {

inline constexpr uint32_t kMagic = 0x5043534d;     // "MSCP" in memory order
inline constexpr uint32_t kEndMagic = 0x4543534d;  // "MSCE"
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 96;
inline constexpr size_t kLpFixedBytes = 40;
inline constexpr size_t kTrailerBytes = 8;
// A model's serialized LP state may not exceed this.
inline constexpr size_t kMaxStateBytes = 1 << 20;

namespace offset {
inline constexpr size_t kMagic = 0;
inline constexpr size_t kVersion = 4;
inline constexpr size_t kHeaderBytes = 6;
inline constexpr size_t kJobId = 8;
inline constexpr size_t kAttempt = 16;
inline constexpr size_t kRank = 20;
inline constexpr size_t kRanks = 24;
inline constexpr size_t kStateBytes = 28;
inline constexpr size_t kWindow = 32;
inline constexpr size_t kNextTime = 40;
inline constexpr size_t kLpCount = 48;
inline constexpr size_t kLpRecords = 56;
inline constexpr size_t kEventRecords = 64;
inline constexpr size_t kMailboxPosts = 72;
inline constexpr size_t kMailboxDeliveries = 80;
inline constexpr size_t kMailboxRemoteEvents = 88;

inline constexpr size_t kLp = 0;
inline constexpr size_t kRngState = 4;
inline constexpr size_t kRngGamma = 12;
inline constexpr size_t kSent = 20;
inline constexpr size_t kProcessed = 28;
inline constexpr size_t kStateLen = 36;
}  // namespace offset

}  // namespace meshsim::checkpoint
