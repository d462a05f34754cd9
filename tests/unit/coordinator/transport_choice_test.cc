#include "coordinator/transport_choice.h"

#include <gtest/gtest.h>

namespace meshsim::coordinator {
namespace {

using Sees = std::vector<std::vector<bool>>;
constexpr auto kShm = v1::TRANSPORT_SHM;
constexpr auto kTcp = v1::TRANSPORT_TCP;
constexpr auto kAuto = v1::TRANSPORT_AUTO;

// Nodes on hosts: ranks with the same host number see each other's probe.
Sees OnHosts(const std::vector<int>& host_of_rank) {
  const size_t ranks = host_of_rank.size();
  Sees sees(ranks, std::vector<bool>(ranks, false));
  for (size_t a = 0; a < ranks; ++a) {
    for (size_t b = 0; b < ranks; ++b) sees[a][b] = a != b && host_of_rank[a] == host_of_rank[b];
  }
  return sees;
}

TEST(ChooseTransportsTest, NodesOfOneHostUseSharedMemoryBothWays) {
  auto chosen = ChooseTransports(kAuto, OnHosts({0, 0, 0}));
  ASSERT_TRUE(chosen.ok());
  for (size_t a = 0; a < 3; ++a) {
    for (size_t b = 0; b < 3; ++b) {
      if (a != b) {
        EXPECT_EQ((*chosen)[a][b], kShm) << a << "->" << b;
      }
    }
  }
}

TEST(ChooseTransportsTest, SplitAcrossHostsUsesTcpBetweenThemAndShmWithin) {
  auto chosen = ChooseTransports(kAuto, OnHosts({0, 0, 1, 1}));
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ((*chosen)[0][1], kShm);
  EXPECT_EQ((*chosen)[3][2], kShm);
  EXPECT_EQ((*chosen)[0][2], kTcp);
  EXPECT_EQ((*chosen)[3][1], kTcp);
}

TEST(ChooseTransportsTest, ContainersThatSeeEachOtherOnlyOneWayUseTcp) {
  // One container was given the other's /dev/shm but not the reverse.
  Sees sees = OnHosts({0, 1});
  sees[0][1] = true;
  auto chosen = ChooseTransports(kAuto, sees);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ((*chosen)[0][1], kTcp);
  EXPECT_EQ((*chosen)[1][0], kTcp);
}

TEST(ChooseTransportsTest, ScenarioAskingForTcpGetsTcpEvenOnOneHost) {
  auto chosen = ChooseTransports(kTcp, OnHosts({0, 0}));
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ((*chosen)[0][1], kTcp);
  EXPECT_EQ((*chosen)[1][0], kTcp);
}

TEST(ChooseTransportsTest, ScenarioAskingForShmAcrossHostsIsRefusedNamingThePair) {
  auto chosen = ChooseTransports(kShm, OnHosts({0, 0, 1}));
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(chosen.status().message()).find("ranks 0 and 2"), std::string::npos)
      << chosen.status();
}

TEST(ChooseTransportsTest, OneNodeHasNoLinks) {
  auto chosen = ChooseTransports(kShm, OnHosts({0}));
  ASSERT_TRUE(chosen.ok());
  ASSERT_EQ(chosen->size(), 1u);
}

}  // namespace
}  // namespace meshsim::coordinator
