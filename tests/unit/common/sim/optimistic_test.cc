// Optimistic synchronization in the kernel, in one process: the shipped
// models run on several in-process kernels that race ahead of each other
// (KernelMesh::RunOptimistic holds what they send in flight for random
// whiles), so events reach LPs in their past, LPs roll back and cancel
// what they sent, locally and by anti-messages. The result must be the
// one-kernel conservative run's, whatever the interleaving and the bound.
#include <tuple>

#include "common/sim/kernel.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
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
    sum.contract_checks += c.contract_checks;
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
    // The shipped models keep the contract the check tests, through
    // rollbacks, and the check changes nothing of the result.
    if (seed == 3) mesh.CheckModelContract(1);
    ASSERT_TRUE(mesh.Init().ok());
    const absl::Status status = mesh.RunOptimistic(seed, {});
    ASSERT_TRUE(status.ok()) << status;
    const OptimisticCounters counters = Sum(mesh);
    ExpectSameOutcome(mesh.Finish(), want);
    // Every event run was either undone or is in the result.
    EXPECT_EQ(counters.processed - counters.rolled_back, want.committed);
    EXPECT_EQ(counters.contract_checks, seed == 3 ? counters.processed : 0);
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

// A model that breaks the contract of model.h: it keeps a count of the
// events it ran in the model object and lets it into what an LP does, so a
// rolled-back event run again does something else.
class LeakyModel final : public Model {
 public:
  enum class Leak { kIntoState, kIntoSends, kNone };
  explicit LeakyModel(Leak leak) : leak_(leak) {}
  uint64_t lp_count() const override { return 4; }
  size_t state_bytes() const override { return sizeof(uint64_t); }
  absl::Status Init(LpContext& lp) override { return lp.Send(lp.lp(), 1.0); }
  absl::Status OnEvent(LpContext& lp, const Event&) override {
    ++events_run_;  // the breach: state outside the LP's block
    const uint64_t hidden = leak_ == Leak::kNone ? 0 : events_run_;
    lp.state<uint64_t>() += leak_ == Leak::kIntoState ? hidden : 1;
    const LpId to = leak_ == Leak::kIntoSends ? (lp.lp() + hidden) % 4 : lp.lp();
    return lp.Send(to, 1.0 + static_cast<double>(lp.rng().Below(4)));
  }
  void Fold(LpContext& lp, ResultFolder& out) override { out.Mix(lp.state<uint64_t>()); }

 private:
  Leak leak_;
  uint64_t events_run_ = 0;
};

absl::Status RunChecked(LeakyModel::Leak leak) {
  const PartitionMap partition = *PartitionMap::Create(PartitionKind::kBlock, 4, 1);
  auto kernel = *Kernel::Create({.seed = 1, .end_time = 50, .lookahead = 1},
                                std::make_unique<LeakyModel>(leak), &partition, nullptr);
  MESHSIM_RETURN_IF_ERROR(kernel->Init());
  MESHSIM_RETURN_IF_ERROR(kernel->EnableRollback({}));
  kernel->EnableContractCheck(5, "leaky");
  // One kernel: GVT is its earliest pending event.
  while (kernel->next_event_time() < 50) {
    MESHSIM_RETURN_IF_ERROR(kernel->RunOptimistic(kernel->next_event_time(), 50, 100).status());
    kernel->FossilCollect(kernel->next_event_time());
  }
  EXPECT_GT(kernel->optimistic_counters().contract_checks, 0u);
  return absl::OkStatus();
}

TEST(ModelContractCheckTest, NamesTheModelAndTheEventWhenARerunDiffers) {
  EXPECT_TRUE(RunChecked(LeakyModel::Leak::kNone).ok());
  const absl::Status state = RunChecked(LeakyModel::Leak::kIntoState);
  EXPECT_EQ(state.code(), absl::StatusCode::kFailedPrecondition) << state;
  for (const char* part : {"model 'leaky' breaks the contract", "the event at t=", "for lp ",
                           "left a different state block", "sync: conservative"}) {
    EXPECT_NE(state.message().find(part), std::string_view::npos) << part << " not in: " << state;
  }
  const absl::Status sends = RunChecked(LeakyModel::Leak::kIntoSends);
  EXPECT_EQ(sends.code(), absl::StatusCode::kFailedPrecondition) << sends;
  for (const char* part : {"made a different send 1 of 1", "another destination"}) {
    EXPECT_NE(sends.message().find(part), std::string_view::npos) << part << " not in: " << sends;
  }
}

}  // namespace
}  // namespace meshsim::sim
