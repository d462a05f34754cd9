// The data-plane frame: one per peer per window (docs/wire-formats.md).
// All integers and doubles are little-endian; fields are unaligned and read
// with memcpy.
//
// Header (kHeaderBytes):
//   off  size  field
//    0    4    magic        kMagic ("MSHF")
//    4    2    version      kVersion
//    6    2    header_bytes kHeaderBytes
//    8    8    run_id       the job attempt: RunId(job_id, attempt)
//   16    8    window       window number (0 = the exchange after init)
//   24    4    source_rank  sender's rank in the job
//   28    4    event_count
//   32    8    next_time    sender's lower bound on any event time it will
//                           process or send next (+inf when it has none)
//   40    4    body_bytes   bytes after the header
//   44    4    flags        kFlagCheckpoint: the sender asks every node to
//                           checkpoint at the barrier after this window;
//                           kFlagOptimistic and the flags after it: a frame
//                           of the optimistic protocol, where `window` is
//                           the GVT round its events were sent in and
//                           `next_time` the sender's GVT report
//                           (docs/wire-formats.md)
// Then event_count events, packed:
//    0    8    time
//    8    4    dst_lp       or a mailbox address: id | 0x80000000
//   12    4    src_lp
//   16    8    src_seq
//   24    2    payload_bytes  kAntiPayloadBytes: an anti-message (optimistic
//                              frames only), cancelling the event of this
//                              key; it has no payload
//   26    n    payload
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace meshsim::frame {

static_assert(std::endian::native == std::endian::little,
              "the frame codec copies little-endian fields directly");

inline constexpr uint32_t kMagic = 0x4648534d;  // "MSHF" in memory order
// 2: dst_lp may be a mailbox address; 3: run_id (job and attempt), flags;
// 4: anti-messages and the optimistic protocol's flags.
inline constexpr uint16_t kVersion = 4;
inline constexpr size_t kHeaderBytes = 48;
inline constexpr size_t kEventFixedBytes = 26;
inline constexpr uint32_t kFlagCheckpoint = 1u << 0;
// A frame of the optimistic protocol; a node in the other mode drops it.
inline constexpr uint32_t kFlagOptimistic = 1u << 1;
// The sender's last frame of GVT round `window`: it enters the next round,
// and `next_time` is its report for the round it leaves.
inline constexpr uint32_t kFlagCut = 1u << 2;
// The sender's last frame before the stop its GVT reached (the job's end or
// an agreed checkpoint): nothing follows it on this link until the stop is
// passed.
inline constexpr uint32_t kFlagStop = 1u << 3;
inline constexpr uint32_t kKnownFlags = kFlagCheckpoint | kFlagOptimistic | kFlagCut | kFlagStop;
// payload_bytes of an anti-message; above any real payload.
inline constexpr uint16_t kAntiPayloadBytes = 0xffff;

// The data plane's name for one attempt of a job: frames and shm rings of
// an attempt that was abandoned never match the one that replaced it.
constexpr uint64_t RunId(uint64_t job_id, uint32_t attempt) { return job_id << 16 | (attempt & 0xffffu); }
constexpr uint64_t JobOfRun(uint64_t run_id) { return run_id >> 16; }
constexpr uint32_t AttemptOfRun(uint64_t run_id) { return static_cast<uint32_t>(run_id & 0xffffu); }

namespace offset {
inline constexpr size_t kMagic = 0;
inline constexpr size_t kVersion = 4;
inline constexpr size_t kHeaderBytes = 6;
inline constexpr size_t kRunId = 8;
inline constexpr size_t kWindow = 16;
inline constexpr size_t kSourceRank = 24;
inline constexpr size_t kEventCount = 28;
inline constexpr size_t kNextTime = 32;
inline constexpr size_t kBodyBytes = 40;
inline constexpr size_t kFlags = 44;

inline constexpr size_t kEventTime = 0;
inline constexpr size_t kEventDstLp = 8;
inline constexpr size_t kEventSrcLp = 12;
inline constexpr size_t kEventSrcSeq = 16;
inline constexpr size_t kEventPayloadBytes = 24;
}  // namespace offset

}  // namespace meshsim::frame
