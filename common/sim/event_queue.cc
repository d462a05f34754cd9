#include "common/sim/event_queue.h"

#include <cstring>

#include "common/status/status.h"

namespace meshsim::sim {

EventQueue::EventQueue(size_t max_payload_bytes) : slot_stride_((max_payload_bytes + 7) & ~size_t{7}) {
  MESHSIM_CHECK(max_payload_bytes <= kMaxEventPayloadBytes, "payload limit above the maximum");
}

uint32_t EventQueue::AcquireSlot() {
  if (!free_slots_.empty()) {
    const uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  if (slots_created_ % kSlotsPerChunk == 0) {
    chunks_.push_back(std::make_unique<std::byte[]>(kSlotsPerChunk * slot_stride_));
  }
  return slots_created_++;
}

void EventQueue::Push(const Event& event) {
  Key key{event.time,   event.src_seq, event.src_lp,
          event.dst_lp, kNoSlot,       static_cast<uint16_t>(event.payload.size())};
  if (!event.payload.empty()) {
    key.slot = AcquireSlot();
    std::memcpy(SlotData(key.slot), event.payload.data(), event.payload.size());
  }
  heap_.push_back(key);
  SiftUp(heap_.size() - 1, key);
}

void EventQueue::SiftUp(size_t hole, const Key& key) {
  // Move the hole up past every parent that `key` precedes, then fill it.
  while (hole > 0) {
    const size_t parent = (hole - 1) / 4;
    if (!Before(key, heap_[parent])) break;
    heap_[hole] = heap_[parent];
    hole = parent;
  }
  heap_[hole] = key;
}

Event EventQueue::Pop() {
  if (popped_slot_ != kNoSlot) {
    free_slots_.push_back(popped_slot_);
    popped_slot_ = kNoSlot;
  }
  const Key top = heap_.front();
  const Key last = heap_.back();
  heap_.pop_back();
  const size_t n = heap_.size();
  if (n > 0) {
    // Bottom-up (Floyd): walk the hole down to a leaf along the smallest
    // children without comparing against `last`, then sift `last` up from
    // there. `last` came from the bottom, so it rarely climbs far, and each
    // level costs one comparison fewer than the classic sift-down.
    size_t i = 0;
    for (;;) {
      const size_t first = 4 * i + 1;
      if (first >= n) break;
      size_t best = first;
      const size_t end = first + 4 < n ? first + 4 : n;
      for (size_t c = first + 1; c < end; ++c) {
        if (Before(heap_[c], heap_[best])) best = c;
      }
      heap_[i] = heap_[best];
      i = best;
    }
    SiftUp(i, last);
  }
  Event event{top.time, top.dst_lp, top.src_lp, top.src_seq, {}};
  if (top.slot != kNoSlot) {
    popped_slot_ = top.slot;
    event.payload = {SlotData(top.slot), top.payload_bytes};
  }
  return event;
}

}  // namespace meshsim::sim
