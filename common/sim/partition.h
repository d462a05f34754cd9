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

  uint32_t owner(LpId lp) const { return owner_[lp]; }
  // Position of `lp` among its owner's LPs (ascending LP order).
  uint32_t local_index(LpId lp) const { return local_index_[lp]; }
  // The LPs `rank` owns, ascending.
  std::span<const LpId> lps_of(uint32_t rank) const {
    return {members_.data() + offsets_[rank], offsets_[rank + 1] - offsets_[rank]};
  }
  uint64_t lp_count() const { return owner_.size(); }
  uint32_t ranks() const { return static_cast<uint32_t>(offsets_.size() - 1); }

 private:
  PartitionMap() = default;
  std::vector<uint32_t> owner_;
  std::vector<uint32_t> local_index_;
  std::vector<LpId> members_;    // LPs grouped by rank, ascending within a rank
  std::vector<size_t> offsets_;  // rank r's LPs: members_[offsets_[r], offsets_[r+1])
};

}  // namespace meshsim::sim
