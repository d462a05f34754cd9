// Which node (rank) owns each LP of a job. Computed identically by the
// coordinator and by every node from (kind, lp_count, ranks).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "meshsim/event.h"

namespace meshsim::sim {

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
  std::span<const LpId> lps_of(uint32_t rank) const {
    return {members_.data() + offsets_[rank], offsets_[rank + 1] - offsets_[rank]};
  }
  uint64_t lp_count() const { return members_.size(); }
  uint32_t ranks() const { return ranks_; }

 private:
  PartitionMap() = default;
  PartitionKind kind_ = PartitionKind::kBlock;
  uint32_t ranks_ = 1;
  uint32_t base_ = 0;            // block: every rank owns base_ LPs ...
  uint32_t extra_ = 0;           // ... and the first extra_ ranks one more,
  uint32_t big_ = 0;             // which are the LPs below big_ = extra_ * (base_ + 1)
  std::vector<LpId> members_;    // LPs grouped by rank, ascending within a rank
  std::vector<size_t> offsets_;  // rank r's LPs: members_[offsets_[r], offsets_[r+1])
};

}  // namespace meshsim::sim
