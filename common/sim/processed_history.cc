#include "common/sim/processed_history.h"

#include <cstring>

namespace meshsim::sim {

namespace {
constexpr size_t kInitialRecords = 1024;
constexpr size_t kInitialSends = 1024;
}  // namespace

ProcessedHistory::ProcessedHistory(size_t state_bytes, size_t max_payload_bytes)
    : state_bytes_(state_bytes),
      state_stride_((state_bytes + 7) & ~size_t{7}),
      payload_stride_((max_payload_bytes + 7) & ~size_t{7}),
      mask_(kInitialRecords - 1),
      records_(kInitialRecords),
      states_(kInitialRecords * state_stride_),
      payloads_(kInitialRecords * payload_stride_),
      sends_(kInitialSends) {}

uint64_t ProcessedHistory::Append(const Event& event, uint32_t local, uint64_t previous, const Rng& rng,
                                  uint64_t sent, std::span<const std::byte> state) {
  if (end_ - begin_ == records_.size()) Grow();
  const uint64_t index = end_++;
  const size_t slot = index & mask_;
  records_[slot] = {event.time,   event.src_seq, event.src_lp,
                    event.dst_lp, local,         static_cast<uint16_t>(event.payload.size()),
                    false,        previous,      sends_end_,
                    sends_end_,   rng,           sent};
  if (!state.empty()) std::memcpy(states_.data() + slot * state_stride_, state.data(), state.size());
  if (!event.payload.empty()) {
    std::memcpy(payloads_.data() + slot * payload_stride_, event.payload.data(), event.payload.size());
  }
  return index;
}

void ProcessedHistory::PopFront() {
  ++begin_;
  // Records hold their sends in processing order, so the oldest kept
  // record's first send is the oldest any record still refers to.
  sends_begin_ = empty() ? sends_end_ : at(begin_).sends_begin;
}

size_t ProcessedHistory::bytes() const {
  return records_.size() * sizeof(Record) + states_.size() + payloads_.size() + sends_.size() * sizeof(Sent);
}

void ProcessedHistory::Grow() {
  // Each kept index moves to its place under the doubled mask.
  const size_t capacity = 2 * records_.size();
  const uint64_t mask = capacity - 1;
  std::vector<Record> records(capacity);
  std::vector<std::byte> states(capacity * state_stride_);
  std::vector<std::byte> payloads(capacity * payload_stride_);
  for (uint64_t index = begin_; index < end_; ++index) {
    const size_t from = index & mask_;
    const size_t to = index & mask;
    records[to] = records_[from];
    if (state_stride_ > 0) {
      std::memcpy(states.data() + to * state_stride_, states_.data() + from * state_stride_, state_stride_);
    }
    if (payload_stride_ > 0) {
      std::memcpy(payloads.data() + to * payload_stride_, payloads_.data() + from * payload_stride_,
                  payload_stride_);
    }
  }
  records_.swap(records);
  states_.swap(states);
  payloads_.swap(payloads);
  mask_ = mask;
}

void ProcessedHistory::GrowSends() {
  const size_t capacity = 2 * sends_.size();
  std::vector<Sent> sends(capacity);
  for (uint64_t index = sends_begin_; index < sends_end_; ++index) {
    sends[index & (capacity - 1)] = sends_[index & (sends_.size() - 1)];
  }
  sends_.swap(sends);
}

}  // namespace meshsim::sim
