// The shared-memory layout of one single-producer single-consumer ring
// (docs/shm-ring.md). One header of cache lines, then `capacity` bytes of
// records. Each field a process writes sits on its own cache line, so the
// producer and the consumer never write the same line.
//
// Record: an 8-byte header {uint32 length, uint32 flags} and `length` bytes,
// padded to 8 bytes. A message larger than one record travels as several
// (kFirst on the first, kLast on the last; a small message has both). A
// record that would straddle the end of the data area is preceded by a
// kPadding record that fills the rest of it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace meshsim::transport::shm {

inline constexpr uint64_t kRingMagic = 0x314752534d53454dULL;  // "MESMSRG1"
inline constexpr uint32_t kRingVersion = 1;
inline constexpr size_t kCacheLine = 64;
inline constexpr size_t kRecordHeaderBytes = 8;
inline constexpr size_t kRecordAlign = 8;

enum RecordFlags : uint32_t {
  kFirst = 1,
  kLast = 2,
  kPadding = 4,
};

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free to be address-free across processes");

struct RingDescriptor {
  // Line 0: written once by the creator before anyone else maps the ring.
  alignas(kCacheLine) uint64_t magic;
  uint32_t version;
  uint32_t capacity;  // bytes of record area, a power of two
  uint64_t job_id;
  uint32_t writer_pid;
  uint32_t reserved0;

  // Line 1: the producer's. Bytes ever written (monotonic; position in the
  // data area is write_pos % capacity).
  alignas(kCacheLine) std::atomic<uint64_t> write_pos;

  // Line 2: the consumer's. Bytes ever consumed.
  alignas(kCacheLine) std::atomic<uint64_t> read_pos;

  // Line 3: the producer waits here for space when the ring is full.
  alignas(kCacheLine) std::atomic<uint32_t> space_signal;
  std::atomic<uint32_t> writer_sleeping;
};

static_assert(sizeof(RingDescriptor) % kCacheLine == 0);
inline constexpr size_t kRingHeaderBytes = sizeof(RingDescriptor);

constexpr size_t AlignRecord(size_t bytes) { return (bytes + kRecordAlign - 1) & ~(kRecordAlign - 1); }

// The co-location probe (one per node, for its lifetime): a random token a
// peer compares to decide it shares this node's IPC namespace, and the
// node's doorbell, which every writer into any of this node's rings rings.
struct ProbeDescriptor {
  alignas(kCacheLine) uint64_t magic;
  uint8_t token[32];
  uint32_t owner_pid;

  // Line 1: the doorbell. Writers bump `signal` and wake it when a reader
  // says it is (about to be) asleep; `reader_sleeping` counts them.
  alignas(kCacheLine) std::atomic<uint32_t> signal;
  std::atomic<uint32_t> reader_sleeping;
};

inline constexpr uint64_t kProbeMagic = 0x31424f52504d53ULL;  // "MSPROB1"

}  // namespace meshsim::transport::shm
