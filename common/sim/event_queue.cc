#include "common/sim/event_queue.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "common/status/status.h"

namespace meshsim::sim {

EventQueue::EventQueue(size_t max_payload_bytes) : slot_stride_(SlotStride(max_payload_bytes)) {
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

void EventQueue::Reserve(size_t events) {
  const size_t blocks = (events + kKeysPerBlock - 1) / kKeysPerBlock;
  while (slabs_.size() * kBlocksPerSlab < blocks) slabs_.push_back(std::make_unique<Block[]>(kBlocksPerSlab));
}

EventQueue::Block* EventQueue::AcquireBlock() const {
  if (Block* block = free_blocks_) {
    free_blocks_ = block->next;
    return block;
  }
  if (blocks_created_ == slabs_.size() * kBlocksPerSlab)
    slabs_.push_back(std::make_unique<Block[]>(kBlocksPerSlab));
  const size_t index = blocks_created_++;
  return &slabs_[index / kBlocksPerSlab][index % kBlocksPerSlab];
}

void EventQueue::ReleaseBlock(Block* block) const {
  block->next = free_blocks_;
  free_blocks_ = block;
}

inline void EventQueue::PushToRung(Rung& rung, const StoredKey& key) const {
  if (rung.first == nullptr || rung.first_count == kKeysPerBlock) {
    Block* block = AcquireBlock();
    block->next = rung.first;
    rung.first = block;
    rung.first_count = 0;
  }
  rung.first->keys[rung.first_count++] = key;
}

void EventQueue::DrainRung(Rung& rung, std::vector<Key>& out) const {
  ConsumeRung(std::exchange(rung, Rung{}), [&](const StoredKey& key) { out.push_back(Unpack(key)); });
}

void EventQueue::EraseFromRung(Rung& rung, Block* block, uint32_t index) {
  // The rung is unsorted: the first block's last key fills the hole.
  block->keys[index] = rung.first->keys[--rung.first_count];
  if (rung.first_count == 0) {
    Block* next = rung.first->next;
    ReleaseBlock(rung.first);
    rung = Rung{next, next != nullptr ? kKeysPerBlock : 0};
  }
}

size_t EventQueue::BucketOf(double time) const {
  // Monotone in time: a later time never falls in an earlier bucket.
  const double offset = (time - base_) * inverse_width_;
  if (!(offset < static_cast<double>(year_buckets_))) return year_buckets_;
  return offset > 0 ? static_cast<size_t>(offset) : 0;
}

void EventQueue::Push(const Event& event) {
  Key key{event.time, event.src_seq, event.src_lp, event.dst_lp, kNoSlot};
  if (!event.payload.empty()) {
    key.slot = AcquireSlot();
    SlotSize(key.slot) = static_cast<uint16_t>(event.payload.size());
    std::memcpy(SlotData(key.slot), event.payload.data(), event.payload.size());
  }
  ++size_;
  const size_t bucket = BucketOf(key.time);
  if (bucket >= year_buckets_) {
    PushToRung(overflow_, Pack(key));
  } else if (bucket <= bucket_) {
    HeapPush(current_, key);  // the bucket being drained (or, never in practice, an earlier one)
  } else {
    PushToRung(buckets_[bucket], Pack(key));
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
    event.payload = {SlotData(top.slot), SlotSize(top.slot)};
  }
  return event;
}

bool EventQueue::Remove(const Event& event) {
  const size_t bucket = BucketOf(event.time);
  if (bucket <= bucket_ && bucket < year_buckets_) {
    for (size_t i = 0; i < current_.size(); ++i) {
      if (!SameEventKey(current_[i], event)) continue;
      if (current_[i].slot != kNoSlot) free_slots_.push_back(current_[i].slot);
      HeapErase(current_, i);
      --size_;
      return true;
    }
    return false;
  }
  Rung& rung = bucket >= year_buckets_ ? overflow_ : buckets_[bucket];
  uint32_t count = rung.first_count;
  for (Block* block = rung.first; block != nullptr; block = block->next, count = kKeysPerBlock) {
    for (uint32_t i = 0; i < count; ++i) {
      if (!SameEventKey(block->keys[i], event)) continue;
      if (block->keys[i].slot != kNoSlot) free_slots_.push_back(block->keys[i].slot);
      EraseFromRung(rung, block, i);
      --size_;
      return true;
    }
  }
  return false;
}

void EventQueue::Settle() const {
  if (!current_.empty() || size_ == 0) return;
  while (++bucket_ < year_buckets_) {
    if (buckets_[bucket_].first != nullptr) {
      DrainRung(buckets_[bucket_], current_);
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
  const size_t n = size_;
  double earliest = overflow_.first->keys[0].time;
  double sum = 0;
  ForEachInRung(overflow_, [&](const StoredKey& key) {
    earliest = std::min(earliest, key.time);
    sum += key.time;
  });
  const double spread = 2 * (sum / static_cast<double>(n) - earliest);
  double width = spread * static_cast<double>(kTargetPerBucket) / static_cast<double>(n);
  if (!(width > 0) || !std::isfinite(1 / width)) width = 1;
  year_buckets_ = std::clamp<size_t>(std::bit_ceil(2 * n / kTargetPerBucket + 1), 16, size_t{1} << 20);
  if (buckets_.size() < year_buckets_) buckets_.resize(year_buckets_);
  base_ = earliest;
  inverse_width_ = 1 / width;
  bucket_ = 0;

  // Spread block by block; a block goes back to the pool once its keys are
  // placed, so the next pushes of this spread reuse it.
  ConsumeRung(std::exchange(overflow_, Rung{}), [&](const StoredKey& key) {
    const size_t bucket = BucketOf(key.time);
    if (bucket >= year_buckets_) {
      PushToRung(overflow_, key);
    } else if (bucket == 0) {
      current_.push_back(Unpack(key));
    } else {
      PushToRung(buckets_[bucket], key);
    }
  });
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
  return slabs_.size() * kBlocksPerSlab * sizeof(Block) + slabs_.capacity() * sizeof(slabs_[0]) +
         current_.capacity() * sizeof(Key) + buckets_.capacity() * sizeof(Rung) +
         chunks_.size() * kSlotsPerChunk * slot_stride_ + chunks_.capacity() * sizeof(chunks_[0]) +
         free_slots_.capacity() * sizeof(uint32_t);
}

}  // namespace meshsim::sim
