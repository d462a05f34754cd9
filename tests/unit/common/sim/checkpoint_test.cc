// Checkpoints at window barriers, in one process: the shipped models run on
// several in-process kernels (KernelMesh, the node's window loop), are checkpointed
// part-way, and restored onto another number of kernels. The result must be
// the one of the run that was never interrupted.
#include <algorithm>
#include <map>
#include <set>

#include "common/checkpoint/checkpoint_codec.h"
#include "common/sim/kernel.h"
#include "common/sim/model_registry.h"
#include "gtest/gtest.h"
#include "models/builtin.h"
#include "tests/unit/common/sim/kernel_mesh.h"

namespace meshsim::sim {
namespace {

using Outcome = KernelMesh::Outcome;

// A shipped model's job on `ranks` kernels in one process.
class InProcessJob {
 public:
  InProcessJob(const std::string& model, ModelContext context, uint32_t ranks, PartitionKind kind,
               std::span<const checkpoint::CheckpointPart> restore = {})
      : info_(Find(model)),
        context_(std::move(context)),
        mesh_({.seed = context_.seed, .end_time = context_.end_time, .lookahead = context_.lookahead},
              *PartitionMap::Create(kind, (*info_->create(context_))->lp_count(), ranks),
              [this] { return *info_->create(context_); }) {
    const absl::Status status = restore.empty() ? mesh_.Init() : mesh_.Restore(restore);
    EXPECT_TRUE(status.ok()) << status;
  }

  // Runs windows until `stop_after_window` (or the end).
  void Run(uint64_t stop_after_window = UINT64_MAX) {
    const absl::Status status = mesh_.Run(std::numeric_limits<double>::infinity(), stop_after_window);
    ASSERT_TRUE(status.ok()) << status;
  }

  std::vector<std::vector<std::byte>> Checkpoint() {
    std::vector<std::vector<std::byte>> parts;
    for (uint32_t rank = 0; rank < mesh_.ranks(); ++rank) {
      Kernel& kernel = mesh_.kernel(rank);
      const auto& counters = kernel.mailbox_counters();
      checkpoint::CheckpointPartWriter writer(
          {.job_id = 7,
           .attempt = 1,
           .rank = rank,
           .ranks = mesh_.ranks(),
           .state_bytes = static_cast<uint32_t>(kernel.model().state_bytes()),
           .window = mesh_.window(),
           .next_time = mesh_.next_time(),
           .lp_count = mesh_.partition().lp_count(),
           .mailbox_posts = counters.posts,
           .mailbox_deliveries = counters.deliveries,
           .mailbox_remote_events = counters.remote_events});
      kernel.SaveCheckpoint(writer);
      parts.push_back(std::move(writer).Finish());
    }
    return parts;
  }

  Outcome Finish() { return mesh_.Finish(); }

  uint64_t window() const { return mesh_.window(); }
  Kernel& kernel(uint32_t rank) { return mesh_.kernel(rank); }
  const ModelInfo& info() const { return *info_; }

 private:
  static const ModelInfo* Find(const std::string& model) {
    models::RegisterBuiltinModels();
    return ModelRegistry::Global().Find(model);
  }

  const ModelInfo* info_;
  ModelContext context_;
  KernelMesh mesh_;
};

// Takes nothing: a lone kernel here has no other rank to send to.
class NoRemoteSink final : public RemoteSink {
 public:
  void Route(uint32_t, const Event&) override {}
};

std::vector<checkpoint::CheckpointPart> Parse(const std::vector<std::vector<std::byte>>& bytes) {
  std::vector<checkpoint::CheckpointPart> parts;
  for (const auto& part : bytes) {
    auto parsed = checkpoint::CheckpointPart::Parse(part, kMaxEventPayloadBytes);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) parts.push_back(*parsed);
  }
  return parts;
}

ModelContext Phold() { return SmallPhold(300, 40, 0.25, 0.3); }
ModelContext Epidemic() { return SmallEpidemic(3000, 60); }

struct Case {
  std::string model;
  ModelContext (*context)();
  uint32_t ranks_before;
  uint32_t ranks_after;
  PartitionKind kind;
};

class CheckpointRestoreTest : public ::testing::TestWithParam<Case> {};

TEST_P(CheckpointRestoreTest, RestoredRunEndsWithTheUninterruptedResult) {
  const Case& c = GetParam();
  InProcessJob whole(c.model, c.context(), 1, PartitionKind::kBlock);
  whole.Run();
  const Outcome expected = whole.Finish();
  ASSERT_GT(expected.committed, 1000u);

  InProcessJob first(c.model, c.context(), c.ranks_before, PartitionKind::kBlock);
  first.Run(/*stop_after_window=*/40);
  ASSERT_EQ(first.window(), 40u);
  const auto bytes = first.Checkpoint();
  const auto parts = Parse(bytes);
  ASSERT_EQ(parts.size(), c.ranks_before);

  InProcessJob restored(c.model, c.context(), c.ranks_after, c.kind, parts);
  restored.Run();
  ExpectSameOutcome(restored.Finish(), expected);
}

INSTANTIATE_TEST_SUITE_P(Models, CheckpointRestoreTest,
                         ::testing::Values(Case{"phold", Phold, 3, 3, PartitionKind::kBlock},
                                           Case{"phold", Phold, 3, 2, PartitionKind::kRoundRobin},
                                           Case{"phold", Phold, 1, 4, PartitionKind::kBlock},
                                           Case{"epidemic", Epidemic, 3, 3, PartitionKind::kBlock},
                                           Case{"epidemic", Epidemic, 2, 3, PartitionKind::kRoundRobin},
                                           Case{"epidemic", Epidemic, 4, 1, PartitionKind::kBlock}),
                         [](const auto& info) {
                           return info.param.model + "_" + std::to_string(info.param.ranks_before) + "_to_" +
                                  std::to_string(info.param.ranks_after) +
                                  (info.param.kind == PartitionKind::kBlock ? "_block" : "_round_robin");
                         });

TEST(CheckpointPartTest, FlippedByteIsDetected) {
  InProcessJob job("phold", Phold(), 2, PartitionKind::kBlock);
  job.Run(10);
  auto bytes = job.Checkpoint();
  for (size_t at : {size_t{3}, size_t{100}, bytes[0].size() / 2, bytes[0].size() - 5}) {
    auto damaged = bytes[0];
    damaged[at] ^= std::byte{0x10};
    auto parsed = checkpoint::CheckpointPart::Parse(damaged, kMaxEventPayloadBytes);
    ASSERT_FALSE(parsed.ok()) << "flip at " << at;
    EXPECT_TRUE(absl::IsDataLoss(parsed.status())) << parsed.status();
  }
  auto truncated = bytes[0];
  truncated.resize(truncated.size() - 20);
  EXPECT_TRUE(absl::IsDataLoss(checkpoint::CheckpointPart::Parse(truncated, kMaxEventPayloadBytes).status()));
}

// A store checks a part as its chunks arrive: any split of the bytes gives
// the whole part's verdict, pieces shorter than the trailer included.
TEST(CheckpointPartTest, VerifierFedInPiecesAgreesWithTheWholePart) {
  InProcessJob job("phold", Phold(), 2, PartitionKind::kBlock);
  job.Run(10);
  const auto bytes = job.Checkpoint();
  const std::span<const std::byte> part = bytes[0];
  auto feed = [&](std::span<const std::byte> whole, size_t piece) {
    checkpoint::PartVerifier verifier;
    for (size_t at = 0; at < whole.size(); at += piece) {
      verifier.Feed(whole.subspan(at, std::min(piece, whole.size() - at)));
    }
    return verifier.Finish();
  };
  const auto expected = checkpoint::VerifyCheckpointPart(part);
  ASSERT_TRUE(expected.ok()) << expected.status();
  for (size_t piece : {size_t{1}, size_t{3}, size_t{8}, size_t{9}, size_t{4096}, part.size()}) {
    const auto header = feed(part, piece);
    ASSERT_TRUE(header.ok()) << "pieces of " << piece << ": " << header.status();
    EXPECT_EQ(header->lp_records, expected->lp_records);
    EXPECT_EQ(header->event_records, expected->event_records);
  }
  auto damaged = bytes[0];
  damaged[damaged.size() / 2] ^= std::byte{0x01};
  for (size_t piece : {size_t{5}, size_t{1000}}) {
    EXPECT_TRUE(absl::IsDataLoss(feed(damaged, piece).status())) << piece;
    EXPECT_TRUE(absl::IsDataLoss(feed(part.first(part.size() - 3), piece).status())) << piece;
  }
}

// The coordinator's admission by memory estimates a kernel before it
// exists (Kernel::Estimate); measured against a real one after Init, the
// LP arrays must agree and the queue's estimate be near it (its storage
// grows in chunks, so a small population may hold a little more).
TEST(KernelMemoryTest, TheEstimateBeforeARunMatchesTheKernelAfterInit) {
  ModelContext context = SmallPhold(20000, 5, 0.3, 0.25);
  InProcessJob job("phold", context, 2, PartitionKind::kBlock);
  for (uint32_t rank = 0; rank < 2; ++rank) {
    const Kernel& kernel = job.kernel(rank);
    const KernelMemory real = kernel.memory();
    const KernelMemory estimate =
        Kernel::Estimate(kernel.local_lp_count(), kernel.model().state_bytes(), kernel.pending_events(),
                         kernel.model().max_payload_bytes());
    EXPECT_EQ(estimate.lp_states, real.lp_states);
    EXPECT_EQ(estimate.lp_records, real.lp_records);
    const double ratio =
        static_cast<double>(estimate.pending_events) / static_cast<double>(real.pending_events);
    EXPECT_GT(ratio, 0.9) << kernel.pending_events() << " pending: " << real.pending_events << " bytes";
    EXPECT_LT(ratio, 1.5) << kernel.pending_events() << " pending: " << real.pending_events << " bytes";
  }
  EXPECT_EQ((*job.info().create(context))->initial_events(), 2u * 20000u);
}

TEST(CheckpointPartTest, RestoreFromPartsMissingAnLpFails) {
  InProcessJob job("phold", Phold(), 3, PartitionKind::kBlock);
  job.Run(10);
  const auto bytes = job.Checkpoint();
  auto parts = Parse(bytes);
  parts.pop_back();  // rank 2's LPs are gone
  models::RegisterBuiltinModels();
  const ModelContext context = Phold();
  auto partition = *PartitionMap::Create(PartitionKind::kBlock, 300, 1);
  NoRemoteSink sink;
  auto kernel = *Kernel::Create({.seed = 11, .end_time = 40, .lookahead = 0.25, .rank = 0},
                                *ModelRegistry::Global().Find("phold")->create(context), &partition, &sink);
  const absl::Status status = kernel->Restore(parts);
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_NE(status.message().find("200 of rank 0's 300 LPs"), std::string::npos) << status;
}

}  // namespace
}  // namespace meshsim::sim
