// A job outlives its processes: real coordinator and node processes,
// SIGKILLed at random points of a job and a coordinator restarted on its
// state directory. In every case the job must end COMPLETED with the result
// of a run that lost nothing. (Checkpoints cut short, damaged or refused by
// a full disk: recovery_storage_test.cc.)
#include "tests/integration/recovery_fixture.h"

namespace meshsim::testing::recovery {
namespace {

TEST_F(RecoveryTest, PholdLosingNodesTwiceWithSparesEndsWithTheUndisturbedResult) {
  KillNodesAndExpectRecovery(kPhold, /*spare_nodes=*/2, /*kills=*/2);
}

TEST_F(RecoveryTest, PholdLosingANodeWithoutASpareRestartsOnFewerNodesWithTheSameResult) {
  KillNodesAndExpectRecovery(kPhold, /*spare_nodes=*/0);
}

// Optimistic: checkpoints are taken at GVT cuts, and the job restarts from
// one (on fewer nodes) with the conservative result.
TEST_F(RecoveryTest, OptimisticPholdLosingANodeEndsWithTheUndisturbedResult) {
  KillNodesAndExpectRecovery(WithLine(kPhold, "nodes", "nodes: 3\nsync: optimistic"), /*spare_nodes=*/0);
}

TEST_F(RecoveryTest, EpidemicLosingANodeEndsWithTheSameCurve) {
  KillNodesAndExpectRecovery(kEpidemic, /*spare_nodes=*/0);
}

TEST_F(RecoveryTest, KilledCoordinatorRestartedMidJobFinishesItWithTheSameDigest) {
  const Answer expected = Reference(kPhold);
  // Time enough for every node to come back, even on a loaded machine.
  const double grace = 8.0;
  StartCoordinator(grace);
  StartNodes(3);
  const uint64_t job = SubmitDetached(kPhold);
  WaitForCheckpoints(job, 1);
  std::this_thread::sleep_for(RandomDelay(0, 0.5));
  KillCoordinator();
  std::this_thread::sleep_for(RandomDelay(0.2, 1.5));  // the nodes carry on alone
  StartCoordinator(grace);
  const auto done = WaitForState(job, "COMPLETED", 120s);
  ExpectSameAnswer(done, expected);
  EXPECT_EQ(done["attempt"], 1) << "the nodes carried on; nothing was restarted";
}

TEST_F(RecoveryTest, ResultsFinishedWhileTheCoordinatorWasAwayAreDeliveredWhenItIsBack) {
  const Answer expected = Reference(kPhold);
  const double grace = 8.0;
  StartCoordinator(grace);
  StartNodes(3);
  const uint64_t job = SubmitDetached(kPhold);
  WaitForCheckpoints(job, 1);
  KillCoordinator();
  // Every node finishes its part with nobody to tell.
  for (auto& node : nodes_) {
    ASSERT_TRUE(WaitFor([&] { return LogHas(*node, "job " + std::to_string(job) + ": done"); }, 60s))
        << Tail(*node);
  }
  StartCoordinator(grace);
  const auto done = WaitForState(job, "COMPLETED", 60s);
  ExpectSameAnswer(done, expected);
  EXPECT_EQ(done["attempt"], 1);
  for (auto& node : nodes_) {
    EXPECT_TRUE(WaitFor([&] { return LogHas(*node, "report delivered"); }, 10s)) << Tail(*node);
  }
}

TEST_F(RecoveryTest, KilledCoordinatorKeepsQueuedAndFinishedJobsAndNeverReusesIds) {
  constexpr char kShort[] = R"(
model: phold
seed: 3
end_time: 50
lookahead: 0.1
nodes: 1
params: { lps: 512 }
)";
  StartCoordinator();
  StartNodes(1);
  std::vector<uint64_t> finished;
  for (int i = 0; i < 3; ++i) {
    finished.push_back(SubmitDetached(kShort));
    ASSERT_EQ(WaitForState(finished.back(), "COMPLETED", 60s)["state"], "COMPLETED");
  }
  std::map<uint64_t, std::string> digests;
  for (uint64_t job : finished) digests[job] = Status(job)["digest"];
  // Two-node jobs wait: only one node is there.
  const std::string two_nodes = WithLine(kShort, "nodes", "nodes: 2");
  std::vector<uint64_t> queued;
  for (int i = 0; i < 4; ++i) queued.push_back(SubmitDetached(two_nodes));
  for (uint64_t job : queued) EXPECT_EQ(Status(job)["state"], "QUEUED");

  KillCoordinator();
  StartCoordinator();
  for (uint64_t job : finished) {
    const auto status = Status(job);
    EXPECT_EQ(status["state"], "COMPLETED") << status.dump();
    EXPECT_EQ(status["digest"], digests[job]);
    EXPECT_FALSE(status["nodes"].empty()) << "the per-node table is kept";
  }
  for (uint64_t job : queued) EXPECT_EQ(Status(job)["state"], "QUEUED");
  const uint64_t next = SubmitDetached(kShort);
  EXPECT_GT(next, queued.back()) << "job ids are never reused";

  // A second node: the queued jobs run, in the order they were submitted.
  StartNodes(1);
  std::vector<double> started;
  for (uint64_t job : queued) {
    const auto status = WaitForState(job, "COMPLETED", 60s);
    ASSERT_EQ(status["state"], "COMPLETED") << status.dump();
    for (const auto& change : status["history"]) {
      if (change["state"] == "RUNNING") started.push_back(change["at_unix"]);
    }
  }
  EXPECT_TRUE(std::is_sorted(started.begin(), started.end()));
}

}  // namespace
}  // namespace meshsim::testing::recovery
