#include "common/sim/event_queue.h"

#include <algorithm>
#include <bit>
#include <cmath>
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

size_t EventQueue::BucketOf(double time) const {
  // Monotone in time: a later time never falls in an earlier bucket.
  const double offset = (time - base_) * inverse_width_;
  if (!(offset < static_cast<double>(year_buckets_))) return year_buckets_;
  return offset > 0 ? static_cast<size_t>(offset) : 0;
}

void EventQueue::Push(const Event& event) {
  Key key{event.time,   event.src_seq, event.src_lp,
          event.dst_lp, kNoSlot,       static_cast<uint16_t>(event.payload.size())};
  if (!event.payload.empty()) {
    key.slot = AcquireSlot();
    std::memcpy(SlotData(key.slot), event.payload.data(), event.payload.size());
  }
  ++size_;
  const size_t bucket = BucketOf(key.time);
  if (bucket >= year_buckets_) {
    overflow_.push_back(key);
  } else if (bucket <= bucket_) {
    HeapPush(current_, key);  // the bucket being drained (or, never in practice, an earlier one)
  } else {
    buckets_[bucket].push_back(key);
  }
}

Event EventQueue::Pop() {
  if (popped_slot_ != kNoSlot) {
    free_slots_.push_back(popped_slot_);
    popped_slot_ = kNoSlot;
  }
  Settle();
  const Key top = current_.front();
  HeapPopFront(current_);
  --size_;
  Event event{top.time, top.dst_lp, top.src_lp, top.src_seq, {}};
  if (top.slot != kNoSlot) {
    popped_slot_ = top.slot;
    event.payload = {SlotData(top.slot), top.payload_bytes};
  }
  return event;
}

bool EventQueue::Remove(const Event& event) {
  auto find = [&](const std::vector<Key>& keys) -> size_t {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (SameEventKey(keys[i], event)) return i;
    }
    return keys.size();
  };
  const size_t bucket = BucketOf(event.time);
  std::vector<Key>& keys = bucket >= year_buckets_ ? overflow_
                           : bucket <= bucket_     ? current_
                                                   : buckets_[bucket];
  const size_t index = find(keys);
  if (index == keys.size()) return false;
  if (keys[index].slot != kNoSlot) free_slots_.push_back(keys[index].slot);
  if (&keys == &current_) {
    HeapErase(current_, index);
  } else {
    keys[index] = keys.back();  // the other rungs are unsorted
    keys.pop_back();
  }
  --size_;
  return true;
}

void EventQueue::Settle() const {
  if (!current_.empty() || size_ == 0) return;
  while (++bucket_ < year_buckets_) {
    std::vector<Key>& next = buckets_[bucket_];
    if (!next.empty()) {
      // Copied, not swapped: each bucket keeps the capacity its index has
      // needed, so after a few years nothing grows any more.
      current_.assign(next.begin(), next.end());
      next.clear();
      MakeHeap(current_);
      return;
    }
  }
  StartYear();
}

void EventQueue::StartYear() const {
  // Every pending key is in the overflow now. Fit the year to them: bucket
  // width from the mean distance to the earliest (twice it covers the bulk
  // of most delay distributions), about kTargetPerBucket keys per bucket.
  const size_t n = overflow_.size();
  double earliest = overflow_.front().time;
  double sum = 0;
  for (const Key& key : overflow_) {
    earliest = std::min(earliest, key.time);
    sum += key.time;
  }
  const double spread = 2 * (sum / static_cast<double>(n) - earliest);
  double width = spread * static_cast<double>(kTargetPerBucket) / static_cast<double>(n);
  if (!(width > 0) || !std::isfinite(1 / width)) width = 1;
  year_buckets_ = std::clamp<size_t>(std::bit_ceil(2 * n / kTargetPerBucket + 1), 16, size_t{1} << 20);
  if (buckets_.size() < year_buckets_) buckets_.resize(year_buckets_);
  base_ = earliest;
  inverse_width_ = 1 / width;
  bucket_ = 0;

  spare_.swap(overflow_);
  // Size each bucket once for what it gets now and about as much again
  // from pushes during the year, instead of growing it key by key.
  counts_.assign(year_buckets_ + 1, 0);
  for (const Key& key : spare_) ++counts_[BucketOf(key.time)];
  for (size_t bucket = 1; bucket < year_buckets_; ++bucket) {
    std::vector<Key>& keys = buckets_[bucket];
    if (keys.capacity() < counts_[bucket]) keys.reserve(2 * counts_[bucket] + kTargetPerBucket / 2);
  }
  for (const Key& key : spare_) {
    const size_t bucket = BucketOf(key.time);
    if (bucket >= year_buckets_) {
      overflow_.push_back(key);
    } else if (bucket == 0) {
      current_.push_back(key);
    } else {
      buckets_[bucket].push_back(key);
    }
  }
  spare_.clear();
  MakeHeap(current_);  // holds the earliest key at least
}

void EventQueue::HeapPush(std::vector<Key>& heap, const Key& key) {
  heap.push_back(key);
  SiftUp(heap, heap.size() - 1, key);
}

void EventQueue::SiftUp(std::vector<Key>& heap, size_t hole, const Key& key) {
  // Move the hole up past every parent that `key` precedes, then fill it.
  while (hole > 0) {
    const size_t parent = (hole - 1) / 4;
    if (!Before(key, heap[parent])) break;
    heap[hole] = heap[parent];
    hole = parent;
  }
  heap[hole] = key;
}

size_t EventQueue::SmallestChild(const std::vector<Key>& heap, size_t parent) {
  const size_t first = 4 * parent + 1;
  if (first >= heap.size()) return 0;
  size_t best = first;
  const size_t end = std::min(first + 4, heap.size());
  for (size_t c = first + 1; c < end; ++c) {
    if (Before(heap[c], heap[best])) best = c;
  }
  return best;
}

void EventQueue::SiftDown(std::vector<Key>& heap, size_t hole, Key key) {
  for (;;) {
    const size_t best = SmallestChild(heap, hole);
    if (best == 0 || !Before(heap[best], key)) break;
    heap[hole] = heap[best];
    hole = best;
  }
  heap[hole] = key;
}

void EventQueue::MakeHeap(std::vector<Key>& heap) {
  if (heap.size() < 2) return;
  for (size_t i = (heap.size() - 2) / 4 + 1; i-- > 0;) SiftDown(heap, i, heap[i]);
}

void EventQueue::HeapErase(std::vector<Key>& heap, size_t index) {
  const Key last = heap.back();
  heap.pop_back();
  if (index == heap.size()) return;
  // `last` fills the hole and moves whichever way the heap order needs.
  if (index > 0 && Before(last, heap[(index - 1) / 4])) {
    SiftUp(heap, index, last);
  } else {
    SiftDown(heap, index, last);
  }
}

void EventQueue::HeapPopFront(std::vector<Key>& heap) {
  const Key last = heap.back();
  heap.pop_back();
  if (heap.empty()) return;
  // Bottom-up (Floyd): walk the hole down to a leaf along the smallest
  // children without comparing against `last`, then sift `last` up from
  // there. `last` came from the bottom, so it rarely climbs far, and each
  // level costs one comparison fewer than the classic sift-down.
  size_t i = 0;
  while (const size_t best = SmallestChild(heap, i)) {
    heap[i] = heap[best];
    i = best;
  }
  SiftUp(heap, i, last);
}

size_t EventQueue::memory_bytes() const {
  size_t keys = current_.capacity() + overflow_.capacity() + spare_.capacity();
  for (const std::vector<Key>& bucket : buckets_) keys += bucket.capacity();
  return keys * sizeof(Key) + buckets_.capacity() * sizeof(std::vector<Key>) +
         counts_.capacity() * sizeof(uint32_t) + chunks_.size() * kSlotsPerChunk * slot_stride_ +
         chunks_.capacity() * sizeof(chunks_[0]) + free_slots_.capacity() * sizeof(uint32_t);
}

}  // namespace meshsim::sim
