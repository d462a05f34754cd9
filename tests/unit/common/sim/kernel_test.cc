#include "common/sim/kernel.h"

#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace meshsim::sim {
namespace {

// A model whose behaviour each test scripts: LP 0 sends at init what
// `init_sends` says; every event is logged.
class ScriptedModel final : public Model {
 public:
  struct Send {
    LpId dst;
    double delay;
  };
  explicit ScriptedModel(uint64_t lps) : lps_(lps) {}
  uint64_t lp_count() const override { return lps_; }
  size_t state_bytes() const override { return sizeof(uint64_t); }
  absl::Status Init(LpContext& lp) override {
    if (lp.lp() != 0) return absl::OkStatus();
    for (const Send& send : init_sends) {
      if (auto status = lp.Send(send.dst, send.delay); !status.ok()) return status;
    }
    return absl::OkStatus();
  }
  absl::Status OnEvent(LpContext& lp, const Event& event) override {
    ++lp.state<uint64_t>();
    log.push_back({event.time, event.dst_lp, event.src_lp, event.src_seq});
    return absl::OkStatus();
  }
  void Fold(LpContext& lp, ResultFolder& out) override { out.Mix(lp.state<uint64_t>()); }

  std::vector<Send> init_sends;
  struct Seen {
    double time;
    LpId dst, src;
    uint64_t seq;
  };
  std::vector<Seen> log;

 private:
  uint64_t lps_;
};

class CollectingSink final : public RemoteSink {
 public:
  void Route(uint32_t rank, const Event& event) override { routed.push_back({rank, event.dst_lp}); }
  std::vector<std::pair<uint32_t, LpId>> routed;
};

struct Fixture {
  explicit Fixture(uint64_t lps, uint32_t ranks = 1, uint32_t rank = 0)
      : partition(*PartitionMap::Create(PartitionKind::kBlock, lps, ranks)) {
    auto owned = std::make_unique<ScriptedModel>(lps);
    model = owned.get();
    kernel = *Kernel::Create({.seed = 1, .end_time = 10, .lookahead = 0.5, .rank = rank}, std::move(owned),
                             &partition, &sink);
  }
  PartitionMap partition;
  CollectingSink sink;
  ScriptedModel* model;
  std::unique_ptr<Kernel> kernel;
};

TEST(KernelTest, SendBelowTheLookaheadIsAClearError) {
  Fixture f(4);
  f.model->init_sends = {{1, 0.25}};
  absl::Status status = f.kernel->Init();
  ASSERT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_NE(status.message().find("lp 0"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("below the lookahead 0.5"), std::string::npos) << status.message();
}

TEST(KernelTest, SendToAMissingLpOrWithANonFiniteDelayFails) {
  Fixture f(4);
  f.model->init_sends = {{9, 1.0}};
  EXPECT_TRUE(absl::IsInvalidArgument(f.kernel->Init()));
  Fixture g(4);
  g.model->init_sends = {{1, std::numeric_limits<double>::infinity()}};
  EXPECT_TRUE(absl::IsInvalidArgument(g.kernel->Init()));
}

TEST(KernelTest, RunWindowProcessesOnlyEventsBeforeTheWindowEnd) {
  Fixture f(4);
  f.model->init_sends = {{1, 1.0}, {2, 2.0}, {3, 3.0}};
  ASSERT_TRUE(f.kernel->Init().ok());
  ASSERT_TRUE(f.kernel->RunWindow(2.0).ok());
  ASSERT_EQ(f.model->log.size(), 1u);
  EXPECT_EQ(f.kernel->next_event_time(), 2.0);
  ASSERT_TRUE(f.kernel->RunWindow(100.0).ok());  // capped by end_time 10
  EXPECT_EQ(f.kernel->committed_events(), 3u);
  EXPECT_EQ(f.kernel->next_event_time(), std::numeric_limits<double>::infinity());
}

TEST(KernelTest, EventsAtOrPastEndTimeAreNotCommitted) {
  Fixture f(2);
  f.model->init_sends = {{1, 9.5}, {1, 10.0}, {1, 12.0}};
  ASSERT_TRUE(f.kernel->Init().ok());
  ASSERT_TRUE(f.kernel->RunWindow(1e9).ok());
  EXPECT_EQ(f.kernel->committed_events(), 1u);
  EXPECT_EQ(f.kernel->pending_events(), 2u);
}

TEST(KernelTest, EventsForAnotherRankGoToTheSinkNotTheQueue) {
  Fixture f(4, 2, 0);  // rank 0 owns LPs 0 and 1
  f.model->init_sends = {{1, 1.0}, {3, 1.0}, {2, 1.0}};
  ASSERT_TRUE(f.kernel->Init().ok());
  EXPECT_EQ(f.kernel->pending_events(), 1u);
  EXPECT_EQ(f.sink.routed, (std::vector<std::pair<uint32_t, LpId>>{{1, 3}, {1, 2}}));
}

TEST(KernelTest, SequenceNumbersCountEachSendersEvents) {
  Fixture f(2);
  f.model->init_sends = {{1, 1.0}, {1, 1.0}, {1, 1.0}};
  ASSERT_TRUE(f.kernel->Init().ok());
  ASSERT_TRUE(f.kernel->RunWindow(5.0).ok());
  ASSERT_EQ(f.model->log.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) EXPECT_EQ(f.model->log[i].seq, i);
}

}  // namespace
}  // namespace meshsim::sim
