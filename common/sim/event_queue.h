// The pending-event set of one node: a two-rung ladder queue of small keys
// ordered by (time, src_lp, src_seq, dst_lp), with payloads kept aside in
// fixed-size slots of chunked storage (stable addresses, reused through a
// free list).
//
// Why not one heap: a binary or 4-ary heap costs log(n) cache-missing
// levels per pop, and at a million pending events its array no longer fits
// in cache (docs/benchmarks.md, "Event queue"). Here the near future is cut
// into buckets of equal width in time (a calendar "year"): a push appends to
// its bucket's vector, O(1); only the bucket being drained is a heap, a few
// dozen keys that stay in cache; events beyond the year wait unsorted in an
// overflow rung and are spread into a new year, with a width fitted to them,
// when the year is drained. Buckets partition time monotonically (floor of
// (time - base) / width), so every key in an earlier bucket precedes every
// key in a later one, and the order is exactly the heap's.
//
// Hot path: once the vectors have grown to the working population, Push and
// Pop allocate nothing (every vector keeps its capacity; a bucket's keys are
// copied into the heap, not handed over with their storage).
// Thread-safety: none; one queue belongs to one simulation thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "meshsim/event.h"

namespace meshsim::sim {

// The order events are processed in: by time, then source LP, then the
// source's sequence number, then destination (a post's copies differ only
// there). Takes anything with those four fields (events, queue keys, the
// optimistic kernel's processed records).
template <typename A, typename B>
constexpr bool OrderedBefore(const A& a, const B& b) {
  if (a.time != b.time) return a.time < b.time;
  if (a.src_lp != b.src_lp) return a.src_lp < b.src_lp;
  if (a.src_seq != b.src_seq) return a.src_seq < b.src_seq;
  return a.dst_lp < b.dst_lp;
}
template <typename A, typename B>
constexpr bool SameEventKey(const A& a, const B& b) {
  return a.time == b.time && a.src_lp == b.src_lp && a.src_seq == b.src_seq && a.dst_lp == b.dst_lp;
}

class EventQueue {
 public:
  // Payloads up to max_payload_bytes; 0 means events carry no payload and
  // no slot storage is used at all.
  explicit EventQueue(size_t max_payload_bytes);

  // Copies the event (and its payload) into the queue.
  // Precondition: event.payload.size() <= max_payload_bytes.
  void Push(const Event& event);

  // Removes and returns the first event. Its payload stays valid until the
  // next Pop(), so a callback may Push while it reads the payload.
  // Precondition: !empty().
  Event Pop();

  // Removes the pending event with `event`'s key (time, src_lp, src_seq,
  // dst_lp; the payload is not compared) and returns true, or returns false
  // when no pending event has that key. For cancelling an event under
  // optimistic synchronization: it searches the one bucket the time falls
  // in (or the drained bucket's heap, or the overflow), so it costs that
  // bucket's size, not the queue's.
  bool Remove(const Event& event);

  // The destination of the event Pop() returns next, when it is at hand
  // without settling (for prefetching its LP's state); nullopt otherwise.
  std::optional<LpId> next_dst_lp() const {
    if (current_.empty()) return std::nullopt;
    return current_.front().dst_lp;
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Time of the first event. Precondition: !empty().
  double top_time() const {
    Settle();
    return current_.front().time;
  }

  // Bytes the queue holds: its key vectors' capacities (which never shrink,
  // so this is their high-water mark) and its payload chunks. Not a hot
  // path: it walks the buckets.
  size_t memory_bytes() const;

  void Reserve(size_t events) {
    current_.reserve(kTargetPerBucket * 4);
    overflow_.reserve(events);
  }

  // Calls fn(const Event&) for every pending event, in no particular order
  // (for checkpoints; not a hot path). The queue must not change meanwhile.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    auto each = [&](const std::vector<Key>& keys) {
      for (const Key& key : keys) {
        Event event{key.time, key.dst_lp, key.src_lp, key.src_seq, {}};
        if (key.slot != kNoSlot) event.payload = {SlotData(key.slot), key.payload_bytes};
        fn(static_cast<const Event&>(event));
      }
    };
    each(current_);
    for (size_t b = bucket_ + 1; b < year_buckets_; ++b) each(buckets_[b]);
    each(overflow_);
  }

 private:
  struct Key {
    double time;
    uint64_t src_seq;
    LpId src_lp;
    LpId dst_lp;
    uint32_t slot;
    uint16_t payload_bytes;
  };
  static bool Before(const Key& a, const Key& b) { return OrderedBefore(a, b); }

  static constexpr uint32_t kNoSlot = UINT32_MAX;
  static constexpr size_t kSlotsPerChunk = 1024;
  // Keys per bucket a new year aims at: enough that advancing past a
  // bucket is rare, few enough that its heap is shallow and in cache.
  static constexpr size_t kTargetPerBucket = 16;

  uint32_t AcquireSlot();
  std::byte* SlotData(uint32_t slot) const {
    return chunks_[slot / kSlotsPerChunk].get() + (slot % kSlotsPerChunk) * slot_stride_;
  }

  // The bucket `time` falls in: 0 .. year_buckets_ - 1 within the year,
  // year_buckets_ beyond it (and before the first year).
  size_t BucketOf(double time) const;
  // Makes current_ hold the first events: moves on to the next non-empty
  // bucket, or starts a new year from the overflow. Changes where keys are
  // kept, never which keys or their order, so it runs from const readers.
  void Settle() const;
  void StartYear() const;

  // The heap of the current bucket (4-ary, min at the front).
  static void HeapPush(std::vector<Key>& heap, const Key& key);
  static void HeapPopFront(std::vector<Key>& heap);
  static void MakeHeap(std::vector<Key>& heap);
  static void HeapErase(std::vector<Key>& heap, size_t index);
  static void SiftUp(std::vector<Key>& heap, size_t hole, const Key& key);
  static void SiftDown(std::vector<Key>& heap, size_t hole, Key key);  // by value: key may be heap[hole]
  // The index of `parent`'s smallest child, or 0 when it has none.
  static size_t SmallestChild(const std::vector<Key>& heap, size_t parent);

  size_t size_ = 0;
  mutable std::vector<Key> current_;               // keys of buckets <= bucket_, as a heap
  mutable std::vector<std::vector<Key>> buckets_;  // the year's later buckets, unsorted (never shrinks)
  mutable size_t year_buckets_ = 0;                // how many of buckets_ this year uses
  mutable std::vector<Key> overflow_;              // keys beyond the year, unsorted
  mutable std::vector<Key> spare_;                 // overflow_'s storage while a year starts
  mutable std::vector<uint32_t> counts_;           // keys per bucket while a year starts
  mutable size_t bucket_ = 0;                      // the bucket current_ drains
  mutable double base_ = 0;                        // the year's start
  mutable double inverse_width_ = 0;               // 1 / bucket width; 0 before the first year
  size_t slot_stride_;
  std::vector<std::unique_ptr<std::byte[]>> chunks_;
  std::vector<uint32_t> free_slots_;
  uint32_t slots_created_ = 0;
  uint32_t popped_slot_ = kNoSlot;  // released at the next Pop()
};

}  // namespace meshsim::sim
