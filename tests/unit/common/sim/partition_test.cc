#include "common/sim/partition.h"

#include "gtest/gtest.h"

namespace meshsim::sim {
namespace {

void ExpectConsistent(const PartitionMap& map) {
  size_t total = 0, smallest = SIZE_MAX, largest = 0;
  for (uint32_t rank = 0; rank < map.ranks(); ++rank) {
    const auto lps = map.lps_of(rank);
    total += lps.size();
    smallest = std::min<size_t>(smallest, lps.size());
    largest = std::max<size_t>(largest, lps.size());
    for (uint32_t i = 0; i < lps.size(); ++i) {
      ASSERT_EQ(map.owner(lps[i]), rank);
      ASSERT_EQ(map.local_index(lps[i]), i);
      if (i > 0) {
        ASSERT_LT(lps[i - 1], lps[i]);
      }
    }
  }
  EXPECT_EQ(total, map.lp_count());
  EXPECT_LE(largest - smallest, 1u);
}

TEST(PartitionMapTest, BlockGivesContiguousRangesOfNearlyEqualSize) {
  auto map = PartitionMap::Create(PartitionKind::kBlock, 10, 3);
  ASSERT_TRUE(map.ok());
  ExpectConsistent(*map);
  EXPECT_EQ(map->owner(0), 0u);
  EXPECT_EQ(map->owner(3), 0u);
  EXPECT_EQ(map->owner(4), 1u);
  EXPECT_EQ(map->owner(9), 2u);
}

TEST(PartitionMapTest, RoundRobinDealsLpsInTurn) {
  auto map = PartitionMap::Create(PartitionKind::kRoundRobin, 10, 3);
  ASSERT_TRUE(map.ok());
  ExpectConsistent(*map);
  for (LpId lp = 0; lp < 10; ++lp) EXPECT_EQ(map->owner(lp), lp % 3);
}

TEST(PartitionMapTest, ManyShapesStayConsistent) {
  for (uint64_t lps : {1, 2, 7, 64, 1000}) {
    for (uint32_t ranks = 1; ranks <= std::min<uint64_t>(lps, 9); ++ranks) {
      for (auto kind : {PartitionKind::kBlock, PartitionKind::kRoundRobin}) {
        auto map = PartitionMap::Create(kind, lps, ranks);
        ASSERT_TRUE(map.ok());
        ExpectConsistent(*map);
      }
    }
  }
}

TEST(PartitionMapTest, RejectsMoreRanksThanLpsAndZeroRanks) {
  EXPECT_TRUE(absl::IsInvalidArgument(PartitionMap::Create(PartitionKind::kBlock, 3, 4).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PartitionMap::Create(PartitionKind::kBlock, 3, 0).status()));
}

}  // namespace
}  // namespace meshsim::sim
