#include "common/sim/partition.h"

#include <limits>

#include "meshsim/format.h"

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
  map.owner_.resize(lp_count);
  map.local_index_.resize(lp_count);
  const uint64_t base = lp_count / ranks;
  const uint64_t extra = lp_count % ranks;  // the first `extra` ranks get one more
  for (uint64_t lp = 0; lp < lp_count; ++lp) {
    uint32_t rank;
    if (kind == PartitionKind::kRoundRobin) {
      rank = static_cast<uint32_t>(lp % ranks);
    } else {
      const uint64_t big = extra * (base + 1);
      rank = static_cast<uint32_t>(lp < big ? lp / (base + 1) : extra + (lp - big) / base);
    }
    map.owner_[lp] = rank;
  }
  map.offsets_.assign(ranks + 1, 0);
  for (uint32_t rank : map.owner_) ++map.offsets_[rank + 1];
  for (uint32_t r = 0; r < ranks; ++r) map.offsets_[r + 1] += map.offsets_[r];
  map.members_.resize(lp_count);
  std::vector<size_t> fill(map.offsets_.begin(), map.offsets_.end() - 1);
  for (uint64_t lp = 0; lp < lp_count; ++lp) {
    const uint32_t rank = map.owner_[lp];
    map.local_index_[lp] = static_cast<uint32_t>(fill[rank] - map.offsets_[rank]);
    map.members_[fill[rank]++] = static_cast<LpId>(lp);
  }
  return map;
}

}  // namespace meshsim::sim
