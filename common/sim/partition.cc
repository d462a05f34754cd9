#include "common/sim/partition.h"

#include <limits>

#include "common/strings/format.h"

namespace meshsim::sim {

absl::StatusOr<PartitionMap> PartitionMap::Create(PartitionKind kind, uint64_t lp_count, uint32_t ranks) {
  if (ranks == 0) return absl::InvalidArgumentError("partition needs at least one node");
  if (lp_count > std::numeric_limits<LpId>::max()) {
    return absl::InvalidArgumentError(StrCat("lp count ", lp_count, " exceeds the LP id range"));
  }
  if (ranks > lp_count) {
    return absl::InvalidArgumentError(StrCat("cannot split ", lp_count, " LPs over ", ranks, " nodes"));
  }
  PartitionMap map;
  map.kind_ = kind;
  map.ranks_ = ranks;
  map.base_ = static_cast<uint32_t>(lp_count / ranks);
  map.extra_ = static_cast<uint32_t>(lp_count % ranks);  // the first `extra` ranks get one more
  map.big_ = map.extra_ * (map.base_ + 1);
  map.lp_count_ = lp_count;
  return map;
}

}  // namespace meshsim::sim
