#include "coordinator/memory_admission.h"

#include <gtest/gtest.h>

#include "common/scenario/scenario.h"
#include "common/strings/format.h"
#include "models/builtin.h"

namespace meshsim::coordinator {
namespace {

constexpr uint64_t kMiB = 1 << 20;

struct Job {
  v1::Scenario scenario;
  std::unique_ptr<sim::Model> model;
};

Job Phold(uint64_t lps, uint32_t start_events, uint32_t nodes, bool checkpoints) {
  models::RegisterBuiltinModels();
  Job job;
  job.scenario.set_model("phold");
  job.scenario.set_seed(1);
  job.scenario.set_end_time(2);
  job.scenario.set_lookahead(0.5);
  job.scenario.set_nodes(nodes);
  job.scenario.set_checkpoint_every_seconds(checkpoints ? 30 : 0);
  (*job.scenario.mutable_params())["lps"] = static_cast<double>(lps);
  (*job.scenario.mutable_params())["start_events"] = start_events;
  (*job.scenario.mutable_params())["payload_bytes"] = 0;
  const absl::Status status = scenario::Normalize(&job.scenario, &job.model);
  EXPECT_TRUE(status.ok()) << status;
  return job;
}

TEST(MemoryAdmissionTest, TheEstimateFollowsLpsEventsNodesAndCheckpoints) {
  const Job job = Phold(10'000'000, 4, 2, /*checkpoints=*/true);
  const NodeMemoryNeed two = EstimateNodeMemory(*job.model, job.scenario, 2);
  const NodeMemoryNeed four = EstimateNodeMemory(*job.model, job.scenario, 4);
  // 5e6 LPs of 32 bytes beside their state, 2e7 pending events of 40.
  EXPECT_EQ(two.lp_bytes, 5'000'000u * (32 + ((job.model->state_bytes() + 7) & ~size_t{7})));
  EXPECT_EQ(two.event_bytes, 20'000'000u * 40);
  EXPECT_EQ(four.lp_bytes * 2, two.lp_bytes);
  EXPECT_EQ(four.event_bytes * 2, two.event_bytes);
  EXPECT_GT(two.checkpoint_bytes, 0u);
  const Job off = Phold(10'000'000, 4, 2, /*checkpoints=*/false);
  EXPECT_EQ(EstimateNodeMemory(*off.model, off.scenario, 2).checkpoint_bytes, 0u);
}

TEST(MemoryAdmissionTest, AJobThatFitsIsAcceptedAndUnknownMemoryJudgesNothing) {
  const Job job = Phold(100'000, 1, 2, false);
  EXPECT_TRUE(CheckJobFitsMemory(*job.model, job.scenario, {256 * kMiB, 256 * kMiB}).ok());
  EXPECT_TRUE(CheckJobFitsMemory(*job.model, job.scenario, {}).ok());
  const Job big = Phold(10'000'000, 4, 2, false);
  EXPECT_TRUE(CheckJobFitsMemory(*big.model, big.scenario, {0, 0}).ok()) << "nodes that did not say";
}

TEST(MemoryAdmissionTest, ARefusalNamesTheNeedAndTheSmallestNodeCountThatHoldsIt) {
  const Job job = Phold(10'000'000, 2, 2, false);
  const uint64_t room = 256 * kMiB;
  const absl::Status status = CheckJobFitsMemory(*job.model, job.scenario, {room, room, 8 * kMiB});
  ASSERT_TRUE(absl::IsResourceExhausted(status)) << status;
  uint32_t fits = 3;
  while (EstimateNodeMemory(*job.model, job.scenario, fits).total() > room) ++fits;
  ASSERT_GT(EstimateNodeMemory(*job.model, job.scenario, fits - 1).total(), room);
  const std::string message(status.message());
  const NodeMemoryNeed need = EstimateNodeMemory(*job.model, job.scenario, 2);
  EXPECT_NE(message.find(StrCat("on 2 nodes it needs about ", HumanBytes(static_cast<double>(need.total())),
                                " per node")),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("may use 256.00 MiB each"), std::string::npos) << message;
  EXPECT_NE(message.find(StrCat("it would fit on ", fits, " such nodes (--nodes ", fits, ")")),
            std::string::npos)
      << message;
  // Nodes too small for any count: said so.
  const absl::Status never = CheckJobFitsMemory(*job.model, job.scenario, {32 * kMiB, 32 * kMiB});
  EXPECT_NE(std::string(never.message()).find("no number of such nodes holds it"), std::string::npos)
      << never;
}

}  // namespace
}  // namespace meshsim::coordinator
