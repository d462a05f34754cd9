// What a kernel under optimistic synchronization keeps of every event it
// processed and may still have to undo (copy state saving): the event
// itself (key and payload, to process it again), the LP's state block,
// random stream and send counter from just before it, the LP's previous
// record, and the list of what the event sent (to cancel it).
//
// Records sit in one ring for the whole node, in processing order, indexed
// by a counter that never wraps; the saved state blocks and payloads sit in
// rings beside it with the same index, each with a fixed stride, and the
// sends in a ring of their own. A rollback undoes the newest records of one
// LP only, so undone records stay in place (marked) until fossil collection
// drops them from the front. The rings double when full and are never
// shrunk: after warm-up, processing an event allocates nothing.
//
// Thread-safety: none; it belongs to its kernel's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "meshsim/event.h"
#include "meshsim/rng.h"

namespace meshsim::sim {

class ProcessedHistory {
 public:
  static constexpr uint64_t kNone = UINT64_MAX;

  struct Record {
    double time;
    uint64_t src_seq;
    LpId src_lp;
    LpId dst_lp;
    uint32_t local;  // the LP's index among the kernel's local LPs
    uint16_t payload_bytes;
    bool undone;           // rolled back: kept only until fossil collection
    uint64_t previous;     // the same LP's record before this one, or kNone
    uint64_t sends_begin;  // what the event sent: sends [sends_begin, sends_end)
    uint64_t sends_end;
    Rng rng_before;        // the LP's stream, send counter and state block
    uint64_t sent_before;  // (state_at) from just before the event
  };
  // One Send or Post of a processed event. Its source is the record's LP
  // and its src_seq the record's sent_before plus its place among the
  // record's sends (every Send and Post takes one).
  struct Sent {
    double time;
    LpId dst_lp;  // an LP, or a mailbox address for a post
  };

  ProcessedHistory(size_t state_bytes, size_t max_payload_bytes);

  // Records `event` (processed next by local LP `local`, whose newest record
  // is `previous`) with the LP's state from before it. Its sends are those
  // logged until CloseSends().
  uint64_t Append(const Event& event, uint32_t local, uint64_t previous, const Rng& rng, uint64_t sent,
                  std::span<const std::byte> state);
  void LogSend(double time, LpId dst_lp) {
    if (sends_end_ - sends_begin_ == sends_.size()) GrowSends();
    sends_[sends_end_ & (sends_.size() - 1)] = {time, dst_lp};
    ++sends_end_;
  }
  void CloseSends(uint64_t index) { at(index).sends_end = sends_end_; }

  // Drops the oldest record (and the sends no record refers to any more).
  // Precondition: !empty().
  void PopFront();

  // A record index that still refers to a kept record.
  bool kept(uint64_t index) const { return index != kNone && index >= begin_; }
  uint64_t begin() const { return begin_; }
  bool empty() const { return begin_ == end_; }
  size_t size() const { return end_ - begin_; }
  Record& at(uint64_t index) { return records_[index & mask_]; }
  const Record& at(uint64_t index) const { return records_[index & mask_]; }
  std::span<const std::byte> state_at(uint64_t index) const {
    return {states_.data() + (index & mask_) * state_stride_, state_bytes_};
  }
  std::span<const std::byte> payload_at(uint64_t index) const {
    return {payloads_.data() + (index & mask_) * payload_stride_, at(index).payload_bytes};
  }
  const Sent& sent_at(uint64_t index) const { return sends_[index & (sends_.size() - 1)]; }

  // Bytes the rings hold (their capacity, which is what the process pays).
  size_t bytes() const;

 private:
  void Grow();
  void GrowSends();

  size_t state_bytes_;
  size_t state_stride_;
  size_t payload_stride_;
  uint64_t mask_ = 0;  // capacity - 1; the capacity is a power of two
  std::vector<Record> records_;
  std::vector<std::byte> states_;
  std::vector<std::byte> payloads_;
  uint64_t begin_ = 0;
  uint64_t end_ = 0;
  std::vector<Sent> sends_;  // power-of-two size
  uint64_t sends_begin_ = 0;
  uint64_t sends_end_ = 0;
};

}  // namespace meshsim::sim
