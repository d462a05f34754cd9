// The pending-event set of one node: a two-rung ladder queue of small keys
// ordered by (time, src_lp, src_seq, dst_lp), with payloads kept aside in
// fixed-size slots of chunked storage (stable addresses, reused through a
// free list).
//
// Why not one heap: a binary or 4-ary heap costs log(n) cache-missing
// levels per pop, and at a million pending events its array no longer fits
// in cache (docs/benchmarks.md, "Event queue"). Here the near future is cut
// into buckets of equal width in time (a calendar "year"): a push appends to
// its bucket, O(1); only the bucket being drained is a heap, a few dozen keys
// that stay in cache; events beyond the year wait unsorted in an overflow
// rung and are spread into a new year, with a width fitted to them, when the
// year is drained. Buckets partition time monotonically (floor of
// (time - base) / width), so every key in an earlier bucket precedes every
// key in a later one, and the order is exactly the heap's.
//
// Memory: a key is 28 bytes, and the year's buckets and the overflow are
// chains of small fixed-size blocks from one pool, so the queue holds about
// as many blocks as there are pending keys: a bucket's only partly filled
// block is its first, a year is spread block by block (each overflow block
// goes back to the pool as soon as its keys are moved, so no second copy of
// the year exists), and blocks of a drained bucket are reused by the next
// pushes. Storage follows the pending population, not the largest load one
// bucket ever met.
//
// Hot path: once the pool has grown to the working population, Push and Pop
// allocate nothing (blocks and payload slots are reused; the drained
// bucket's heap keeps its capacity).
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

  // Bytes the queue holds: its block pool and payload chunks (which never
  // shrink, so these are their high-water marks), the drained bucket's heap
  // and the bucket table.
  size_t memory_bytes() const;
  // What one pending event costs at most, its key and its payload's slot
  // (a unit test keeps the key's bound): for estimates before a run.
  static constexpr size_t kKeyBytesPerPendingEvent = 40;
  static constexpr size_t SlotBytes(size_t max_payload_bytes) {
    return max_payload_bytes == 0 ? 0 : SlotStride(max_payload_bytes);
  }

  // Grows the block pool for `events` pending keys up front.
  void Reserve(size_t events);

  // Calls fn(const Event&) for every pending event, in no particular order
  // (for checkpoints; not a hot path). The queue must not change meanwhile.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    auto each = [&](const auto& key) {
      Event event{key.time, key.dst_lp, key.src_lp, key.src_seq, {}};
      if (key.slot != kNoSlot) event.payload = {SlotData(key.slot), SlotSize(key.slot)};
      fn(static_cast<const Event&>(event));
    };
    for (const Key& key : current_) each(key);
    for (size_t b = bucket_ + 1; b < year_buckets_; ++b) ForEachInRung(buckets_[b], each);
    ForEachInRung(overflow_, each);
  }

 private:
  // A key as the drained bucket's heap holds it: naturally aligned, so the
  // heap's moves and comparisons stay cheap.
  struct Key {
    double time;
    uint64_t src_seq;
    LpId src_lp;
    LpId dst_lp;
    uint32_t slot;
  };
  // A key as the rungs store it: packed to 4-byte alignment, 28 bytes
  // instead of 32, an eighth of the queue's memory. A payload's size is kept
  // in its slot's header.
#pragma pack(push, 4)
  struct StoredKey {
    double time;
    uint64_t src_seq;
    LpId src_lp;
    LpId dst_lp;
    uint32_t slot;
  };
#pragma pack(pop)
  static_assert(sizeof(StoredKey) == 28);
  static StoredKey Pack(const Key& k) { return {k.time, k.src_seq, k.src_lp, k.dst_lp, k.slot}; }
  static Key Unpack(const StoredKey& k) { return {k.time, k.src_seq, k.src_lp, k.dst_lp, k.slot}; }
  static bool Before(const Key& a, const Key& b) { return OrderedBefore(a, b); }

  // A rung (one bucket of the year, or the overflow) is a chain of blocks;
  // only its first block may be partly filled, and the rung itself counts
  // that block's keys, so a push is one store into the block and a removal
  // touches that block alone.
  // Four keys: six or eight make a hold at a thousand pending events about
  // 6% faster but hold 43 or 48 bytes per pending event where buckets are
  // sparse, past the 40 that 10^8-LP jobs are sized by (docs/benchmarks.md).
  static constexpr uint32_t kKeysPerBlock = 4;
  struct Block {
    Block* next;  // the rung's next block (or the pool's), or nullptr
    StoredKey keys[kKeysPerBlock];
  };
  struct Rung {
    Block* first = nullptr;
    uint32_t first_count = 0;  // keys in use in `first`; the others are full
  };
  static constexpr size_t kBlocksPerSlab = 512;

  static constexpr uint32_t kNoSlot = UINT32_MAX;
  static constexpr size_t kSlotsPerChunk = 1024;
  // Keys per bucket a new year aims at: enough that advancing past a
  // bucket is rare, few enough that its heap is shallow and in cache.
  static constexpr size_t kTargetPerBucket = 16;

  uint32_t AcquireSlot();
  // A slot is an 8-byte header holding the payload's size, then the payload
  // (8-byte aligned): the size shares the payload's cache line.
  static constexpr size_t kSlotHeaderBytes = 8;
  static constexpr size_t SlotStride(size_t max_payload_bytes) {
    return kSlotHeaderBytes + ((max_payload_bytes + 7) & ~size_t{7});
  }
  std::byte* SlotHeader(uint32_t slot) const {
    return chunks_[slot / kSlotsPerChunk].get() + (slot % kSlotsPerChunk) * slot_stride_;
  }
  std::byte* SlotData(uint32_t slot) const { return SlotHeader(slot) + kSlotHeaderBytes; }
  uint16_t& SlotSize(uint32_t slot) const { return *reinterpret_cast<uint16_t*>(SlotHeader(slot)); }

  Block* AcquireBlock() const;
  void ReleaseBlock(Block* block) const;
  void PushToRung(Rung& rung, const StoredKey& key) const;
  // Appends the rung's keys to `out` and gives its blocks back to the pool.
  void DrainRung(Rung& rung, std::vector<Key>& out) const;
  // Removes block->keys[index], a key of `rung`.
  void EraseFromRung(Rung& rung, Block* block, uint32_t index);
  // Calls fn(const StoredKey&) for each key of a detached rung, giving each
  // block back to the pool once its keys are seen (so fn may push into
  // other rungs and reuse it).
  template <typename Fn>
  void ConsumeRung(Rung rung, Fn&& fn) const {
    uint32_t count = rung.first_count;
    for (Block* block = rung.first; block != nullptr; count = kKeysPerBlock) {
      for (uint32_t i = 0; i < count; ++i) fn(block->keys[i]);
      Block* next = block->next;
      ReleaseBlock(block);
      block = next;
    }
  }
  template <typename Fn>
  void ForEachInRung(const Rung& rung, Fn&& fn) const {
    uint32_t count = rung.first_count;
    for (const Block* block = rung.first; block != nullptr; block = block->next, count = kKeysPerBlock) {
      for (uint32_t i = 0; i < count; ++i) fn(block->keys[i]);
    }
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
  mutable std::vector<Key> current_;                     // keys of buckets <= bucket_, as a heap
  mutable std::vector<Rung> buckets_;                    // the year's later buckets (never shrinks)
  mutable size_t year_buckets_ = 0;                      // how many of buckets_ this year uses
  mutable Rung overflow_;                                // keys beyond the year
  mutable size_t bucket_ = 0;                            // the bucket current_ drains
  mutable double base_ = 0;                              // the year's start
  mutable double inverse_width_ = 0;                     // 1 / bucket width; 0 before the first year
  mutable std::vector<std::unique_ptr<Block[]>> slabs_;  // the block pool's storage
  mutable size_t blocks_created_ = 0;
  mutable Block* free_blocks_ = nullptr;  // released blocks, linked through next
  size_t slot_stride_;
  std::vector<std::unique_ptr<std::byte[]>> chunks_;
  std::vector<uint32_t> free_slots_;
  uint32_t slots_created_ = 0;
  uint32_t popped_slot_ = kNoSlot;  // released at the next Pop()
};

}  // namespace meshsim::sim
