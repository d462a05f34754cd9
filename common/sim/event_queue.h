// The pending-event set of one node: a 4-ary min-heap of small keys ordered
// by (time, src_lp, src_seq, dst_lp), with payloads kept aside in fixed-size
// slots of chunked storage (stable addresses, reused through a free list).
//
// Hot path: after the heap vector and the slot chunks have grown to the
// working population, Push and Pop allocate nothing.
// Thread-safety: none; one queue belongs to one simulation thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "meshsim/event.h"

namespace meshsim::sim {

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

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // Time of the first event. Precondition: !empty().
  double top_time() const { return heap_.front().time; }

  void Reserve(size_t events) { heap_.reserve(events); }

  // Calls fn(const Event&) for every pending event, in no particular order
  // (for checkpoints; not a hot path). The queue must not change meanwhile.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Key& key : heap_) {
      Event event{key.time, key.dst_lp, key.src_lp, key.src_seq, {}};
      if (key.slot != kNoSlot) event.payload = {SlotData(key.slot), key.payload_bytes};
      fn(static_cast<const Event&>(event));
    }
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
  static bool Before(const Key& a, const Key& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.src_lp != b.src_lp) return a.src_lp < b.src_lp;
    if (a.src_seq != b.src_seq) return a.src_seq < b.src_seq;
    return a.dst_lp < b.dst_lp;
  }

  static constexpr uint32_t kNoSlot = UINT32_MAX;
  static constexpr size_t kSlotsPerChunk = 1024;

  uint32_t AcquireSlot();
  void SiftUp(size_t hole, const Key& key);
  std::byte* SlotData(uint32_t slot) const {
    return chunks_[slot / kSlotsPerChunk].get() + (slot % kSlotsPerChunk) * slot_stride_;
  }

  std::vector<Key> heap_;
  size_t slot_stride_;
  std::vector<std::unique_ptr<std::byte[]>> chunks_;
  std::vector<uint32_t> free_slots_;
  uint32_t slots_created_ = 0;
  uint32_t popped_slot_ = kNoSlot;  // released at the next Pop()
};

}  // namespace meshsim::sim
