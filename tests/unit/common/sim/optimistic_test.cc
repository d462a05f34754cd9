// Optimistic synchronization in the kernel, in one process: the shipped
// models run on several in-process kernels that race ahead of each other
// (KernelMesh::RunOptimistic holds what they send in flight for random
// whiles), so events reach LPs in their past, LPs roll back and cancel
// what they sent, locally and by anti-messages. The result must be the
// one-kernel conservative run's, whatever the interleaving and the bound.
#include <tuple>

#include "common/sim/kernel.h"
#include "common/sim/model_registry.h"
#include "gtest/gtest.h"
#include "models/builtin.h"
#include "tests/unit/common/sim/kernel_mesh.h"

namespace meshsim::sim {
namespace {

const ModelInfo& Find(const std::string& model) {
  models::RegisterBuiltinModels();
  return *ModelRegistry::Global().Find(model);
}

KernelMesh MakeMesh(const std::string& model, const ModelContext& context, uint32_t ranks,
                    PartitionKind kind) {
  const ModelInfo& info = Find(model);
  return KernelMesh({.seed = context.seed, .end_time = context.end_time, .lookahead = context.lookahead},
                    *PartitionMap::Create(kind, (*info.create(context))->lp_count(), ranks),
                    [&info, context] { return *info.create(context); });
}

ModelContext Phold(double lookahead, double remote_fraction) {
  return SmallPhold(240, 30, lookahead, remote_fraction);
}
ModelContext Epidemic() { return SmallEpidemic(1500, 40); }

KernelMesh::Outcome Conservative(const std::string& model, const ModelContext& context) {
  KernelMesh mesh = MakeMesh(model, context, 1, PartitionKind::kBlock);
  EXPECT_TRUE(mesh.Init().ok());
  EXPECT_TRUE(mesh.Run().ok());
  return mesh.Finish();
}

OptimisticCounters Sum(KernelMesh& mesh) {
  OptimisticCounters sum;
  for (uint32_t rank = 0; rank < mesh.ranks(); ++rank) {
    const OptimisticCounters& c = mesh.kernel(rank).optimistic_counters();
    sum.processed += c.processed;
    sum.rolled_back += c.rolled_back;
    sum.rollbacks += c.rollbacks;
    sum.antis_sent += c.antis_sent;
    sum.antis_received += c.antis_received;
    sum.fossil_collected += c.fossil_collected;
  }
  return sum;
}

struct Case {
  std::string name;
  std::string model;
  ModelContext context;
  uint32_t ranks;
  PartitionKind kind;
};

class OptimisticRunTest : public ::testing::TestWithParam<Case> {};

TEST_P(OptimisticRunTest, EndsWithTheConservativeResultUnderEveryInterleaving) {
  const Case& c = GetParam();
  const KernelMesh::Outcome want = Conservative(c.model, c.context);
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE(testing::Message() << "interleaving seed " << seed);
    KernelMesh mesh = MakeMesh(c.model, c.context, c.ranks, c.kind);
    ASSERT_TRUE(mesh.Init().ok());
    const absl::Status status = mesh.RunOptimistic(seed, {});
    ASSERT_TRUE(status.ok()) << status;
    const OptimisticCounters counters = Sum(mesh);
    ExpectSameOutcome(mesh.Finish(), want);
    // Every event run was either undone or is in the result.
    EXPECT_EQ(counters.processed - counters.rolled_back, want.committed);
    if (c.ranks > 1) {
      // The case is only worth its name if it rolled back and cancelled.
      EXPECT_GT(counters.rollbacks, 0u);
      EXPECT_GT(counters.antis_sent, 0u);
      EXPECT_EQ(counters.antis_sent, counters.antis_received);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, OptimisticRunTest,
    ::testing::Values(Case{"phold_1_rank", "phold", Phold(0.1, 0.3), 1, PartitionKind::kBlock},
                      Case{"phold_la_0_1_2_ranks", "phold", Phold(0.1, 0.3), 2, PartitionKind::kBlock},
                      Case{"phold_la_0_01_3_ranks_rr", "phold", Phold(0.01, 0.3), 3,
                           PartitionKind::kRoundRobin},
                      Case{"phold_la_0_001_4_ranks", "phold", Phold(0.001, 0.5), 4, PartitionKind::kBlock},
                      Case{"epidemic_3_ranks", "epidemic", Epidemic(), 3, PartitionKind::kBlock},
                      Case{"epidemic_2_ranks_rr", "epidemic", Epidemic(), 2, PartitionKind::kRoundRobin}),
    [](const auto& info) { return info.param.name; });

// The smallest bounds: one lookahead past GVT, one saved event. A node at
// the memory bound runs only events at GVT, and the run still ends, with
// the same result.
TEST(OptimisticBoundTest, TheSmallestBoundStillEndsWithTheSameResult) {
  const ModelContext context = Phold(0.01, 0.5);
  const KernelMesh::Outcome want = Conservative("phold", context);
  for (const OptimismBound bound :
       {OptimismBound{.time_window = 0.01}, OptimismBound{.max_saved_events = 1}}) {
    KernelMesh mesh = MakeMesh("phold", context, 3, PartitionKind::kBlock);
    ASSERT_TRUE(mesh.Init().ok());
    const absl::Status status = mesh.RunOptimistic(5, bound);
    ASSERT_TRUE(status.ok()) << status;
    for (uint32_t rank = 0; rank < mesh.ranks(); ++rank) {
      EXPECT_LE(mesh.kernel(rank).saved_events(), std::max<size_t>(bound.max_saved_events, 1u) + 64)
          << "rank " << rank << " kept more than its bound allows";
    }
    ExpectSameOutcome(mesh.Finish(), want);
  }
}

// An anti-message that overtakes its event (FIFO links never do this, but
// the kernel must not depend on it) waits for it, and the two annihilate.
TEST(OptimisticAntiMessageTest, AnAntiMessageBeforeItsEventAnnihilatesIt) {
  KernelMesh mesh = MakeMesh("phold", Phold(0.1, 0.3), 2, PartitionKind::kBlock);
  ASSERT_TRUE(mesh.Init().ok());
  Kernel& kernel = mesh.kernel(1);
  ASSERT_TRUE(kernel.EnableRollback({}).ok());
  const size_t pending = kernel.pending_events();
  const LpId local_lp = mesh.partition().lps_of(1).front();
  const Event event{7.5, local_lp, /*src_lp=*/0, /*src_seq=*/99, {}};
  kernel.DeliverAnti(event);
  EXPECT_EQ(kernel.pending_events(), pending);
  kernel.Deliver(event);
  EXPECT_EQ(kernel.pending_events(), pending) << "the event should have met its anti-message";
  kernel.Deliver(event);
  EXPECT_EQ(kernel.pending_events(), pending + 1) << "a second copy has no anti-message left to meet";
}

TEST(OptimisticBoundTest, RollbackIsEnabledOnceAndAfterInit) {
  KernelMesh mesh = MakeMesh("phold", Phold(0.1, 0.3), 1, PartitionKind::kBlock);
  EXPECT_EQ(mesh.kernel(0).EnableRollback({}).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(mesh.Init().ok());
  EXPECT_EQ(mesh.kernel(0).EnableRollback({.time_window = 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(mesh.kernel(0).EnableRollback({}).ok());
  EXPECT_EQ(mesh.kernel(0).EnableRollback({}).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace meshsim::sim
