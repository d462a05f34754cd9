// Which node (rank) owns each LP of a job. Computed identically by the
// coordinator and by every node from (kind, lp_count, ranks).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "meshsim/event.h"

namespace meshsim::sim {

// The LPs one rank owns, ascending: first, first + stride, ... Computed,
// not stored: a table of every LP on every node would cost 4 bytes per LP
// of the whole job on each (400 MB per node at 10^8 LPs).
struct OwnedLps {
  LpId first = 0;
  uint32_t stride = 1;
  uint32_t count = 0;
  uint32_t size() const { return count; }
  bool empty() const { return count == 0; }
  LpId operator[](uint32_t i) const { return static_cast<LpId>(first + uint64_t{i} * stride); }
  LpId front() const { return first; }
};

enum class PartitionKind {
  kBlock,       // rank r owns a contiguous range; sizes differ by at most one
  kRoundRobin,  // lp % ranks
};

class PartitionMap {
 public:
  // INVALID_ARGUMENT when ranks is 0 or exceeds lp_count.
  [[nodiscard]] static absl::StatusOr<PartitionMap> Create(PartitionKind kind, uint64_t lp_count,
                                                           uint32_t ranks);

  // Computed, not looked up: with a million LPs a per-LP table is a cache
  // miss on every send and every event, a division is not.
  uint32_t owner(LpId lp) const {
    if (ranks_ == 1) return 0;
    if (kind_ == PartitionKind::kRoundRobin) return lp % ranks_;
    return lp < big_ ? lp / (base_ + 1) : extra_ + (lp - big_) / base_;
  }
  // Position of `lp` among its owner's LPs (ascending LP order).
  uint32_t local_index(LpId lp) const {
    if (ranks_ == 1) return lp;
    if (kind_ == PartitionKind::kRoundRobin) return lp / ranks_;
    return lp < big_ ? lp % (base_ + 1) : (lp - big_) % base_;
  }
  // The LPs `rank` owns, ascending.
  OwnedLps lps_of(uint32_t rank) const {
    if (ranks_ == 1) return {0, 1, static_cast<uint32_t>(lp_count_)};
    if (kind_ == PartitionKind::kRoundRobin) {
      return {rank, ranks_, static_cast<uint32_t>((lp_count_ - rank + ranks_ - 1) / ranks_)};
    }
    if (rank < extra_) return {rank * (base_ + 1), 1, base_ + 1};
    return {big_ + (rank - extra_) * base_, 1, base_};
  }
  uint64_t lp_count() const { return lp_count_; }
  uint32_t ranks() const { return ranks_; }

 private:
  PartitionMap() = default;
  PartitionKind kind_ = PartitionKind::kBlock;
  uint32_t ranks_ = 1;
  uint32_t base_ = 0;   // block: every rank owns base_ LPs ...
  uint32_t extra_ = 0;  // ... and the first extra_ ranks one more,
  uint32_t big_ = 0;    // which are the LPs below big_ = extra_ * (base_ + 1)
  uint64_t lp_count_ = 0;
};

}  // namespace meshsim::sim
