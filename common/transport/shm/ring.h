// A single-producer single-consumer ring of variable-size messages in a
// POSIX shared-memory segment (layout: ring_descriptor.h, docs/shm-ring.md).
//
// The writer reserves space and commits in place; a message larger than one
// record (a quarter of the ring) is split into records and reassembled by
// the reader, so any size passes without ever corrupting the ring. A full
// ring makes the writer wait (poll, then sleep on a futex the reader wakes):
// backpressure, never a drop. An empty ring makes the reader wait on its
// node's doorbell the same way (see Doorbell), so idle processes use no CPU.
//
// Every position and record header read from shared memory is checked
// before it is used: a corrupted ring is DATA_LOSS with what was wrong,
// never a crash or an endless wait.
//
// Thread-safety: a RingWriter and a RingReader are each used by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/time/clock.h"
#include "common/transport/shm/ring_descriptor.h"
#include "common/transport/shm/shm_segment.h"

namespace meshsim::transport::shm {

// How far a wait went before it ended (ring.cc, "How a waiting side
// waits"): `ready` held while polling, while polling between yields of the
// core, or only after (or instead of) a sleep on the futex. kNone is for a
// caller's own record of data it found without waiting; Wait never returns
// it. Ordered by how far the wait went.
enum class WaitPhase : uint8_t { kNone, kPolled, kYielded, kSlept };
inline constexpr size_t kWaitPhases = 4;

// The wake-up a node's readers sleep on, kept in the node's probe segment:
// writers into any of the node's rings ring it.
class Doorbell {
 public:
  explicit Doorbell(ProbeDescriptor* probe) : probe_(probe) {}
  // Writer side, after publishing: wakes the reader if it sleeps.
  void Ring();
  // Reader side: polls, then yields, then sleeps up to `timeout` unless
  // `ready()` holds once the reader has announced it is going to sleep (so
  // no wake-up is missed).
  WaitPhase Wait(const std::function<bool()>& ready, Duration timeout);

 private:
  ProbeDescriptor* probe_;
};

class RingWriter {
 public:
  // Creates the segment `name` with `capacity` bytes of records (a power of
  // two, at least 4 KiB).
  [[nodiscard]] static absl::StatusOr<RingWriter> Create(const std::string& name, uint32_t capacity,
                                                         uint64_t job_id);

  // Writes one message of any size. Waits while the ring is full, checking
  // `should_stop` every few milliseconds (ABORTED when it says stop).
  // DATA_LOSS when the ring's shared positions are corrupt.
  [[nodiscard]] absl::Status Write(std::span<const std::byte> message, Doorbell& doorbell,
                                   const std::function<bool()>& should_stop);

  // In-place writing of one record of at most max_record_bytes(): Reserve
  // returns the space (waiting as Write does), Commit publishes it.
  [[nodiscard]] absl::StatusOr<std::span<std::byte>> Reserve(size_t bytes,
                                                             const std::function<bool()>& should_stop);
  void Commit(uint32_t flags, Doorbell& doorbell);

  size_t max_record_bytes() const { return capacity_ / 4 - kRecordHeaderBytes; }
  uint32_t capacity() const { return capacity_; }
  // Bytes written and not yet consumed.
  uint64_t occupancy() const;
  ShmSegment& segment() { return segment_; }

 private:
  RingWriter(ShmSegment segment, uint32_t capacity);
  RingDescriptor* descriptor() const { return reinterpret_cast<RingDescriptor*>(segment_.data()); }
  std::byte* records() const { return segment_.data() + kRingHeaderBytes; }
  absl::Status WaitForSpace(size_t need, const std::function<bool()>& should_stop);

  ShmSegment segment_;
  uint32_t capacity_;
  uint64_t write_pos_ = 0;  // the producer's own copy; published on Commit
  // The consumer's position as last read: the shared line is re-read only
  // when this view shows too little space, so the cores do not trade the
  // line on every message.
  uint64_t cached_read_pos_ = 0;
  size_t reserved_ = 0;  // bytes of the record being written
};

class RingReader {
 public:
  // Maps an existing ring and checks its header against `job_id`.
  // UNAVAILABLE while its creator is still setting it up: try again.
  [[nodiscard]] static absl::StatusOr<RingReader> Open(const std::string& name, uint64_t job_id);

  // Takes one whole message into *out if one is complete; false if not (a
  // message still arriving stays assembled here between calls).
  [[nodiscard]] absl::StatusOr<bool> TryRead(std::vector<std::byte>* out);

  // Whether a record is waiting (cheap; for the doorbell's check).
  bool HasData() const;
  ShmSegment& segment() { return segment_; }

 private:
  RingReader(ShmSegment segment, uint32_t capacity, uint64_t job_id);
  RingDescriptor* descriptor() const { return reinterpret_cast<RingDescriptor*>(segment_.data()); }
  const std::byte* records() const { return segment_.data() + kRingHeaderBytes; }
  absl::Status Corrupt(std::string_view what) const;
  // OK when the record at `offset` is well formed and wholly published.
  absl::Status CheckRecord(uint32_t length, uint32_t flags, size_t offset, size_t available) const;
  void Release(uint64_t new_read_pos);

  ShmSegment segment_;
  uint32_t capacity_;
  uint64_t job_id_;
  uint64_t read_pos_ = 0;          // the consumer's own copy
  uint64_t cached_write_pos_ = 0;  // the producer's position as last read
  std::vector<std::byte> assembling_;
  bool in_message_ = false;
};

}  // namespace meshsim::transport::shm
