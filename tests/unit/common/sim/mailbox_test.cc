// Mailboxes across several kernels in one process (KernelMesh, the node's
// window loop with the exchange done in memory): fan-out,
// one cross-node event per remote subscribing node, order independent of
// the partition, and the errors a model gets for misusing mailboxes.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/frame/mailbox_address.h"
#include "common/sim/kernel.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/unit/common/sim/kernel_mesh.h"

namespace meshsim::sim {
namespace {

constexpr double kLookahead = 0.5;
constexpr std::byte kTrigger{1};
constexpr std::byte kMessage{2};

struct ScriptedPost {
  LpId lp;
  std::string mailbox;
  double delay;
};

// What the LPs of a job do, shared by the model instances of every rank.
struct Script {
  std::map<LpId, std::vector<std::string>> subscribe;  // in init
  std::vector<ScriptedPost> init_posts;
  // Posts made from OnEvent: the LP sends itself a trigger at `trigger_at`
  // in init and posts when it arrives.
  std::vector<ScriptedPost> event_posts;
  double trigger_at = 1.0;
  std::vector<std::pair<LpId, std::string>> subscribe_on_event;
};

struct Delivery {
  double time;
  LpId dst, src;
  uint64_t seq;
  bool operator==(const Delivery&) const = default;
};

class MailboxModel final : public Model {
 public:
  MailboxModel(uint64_t lps, std::shared_ptr<const Script> script, std::vector<Delivery>* log)
      : lps_(lps), script_(std::move(script)), log_(log) {}
  uint64_t lp_count() const override { return lps_; }
  size_t state_bytes() const override { return 8; }
  size_t max_payload_bytes() const override { return 1; }

  absl::Status Init(LpContext& lp) override {
    if (auto it = script_->subscribe.find(lp.lp()); it != script_->subscribe.end()) {
      for (const std::string& name : it->second) {
        if (auto status = lp.Subscribe(name); !status.ok()) return status;
      }
    }
    for (const ScriptedPost& post : script_->init_posts) {
      if (post.lp != lp.lp()) continue;
      if (auto status = lp.Post(post.mailbox, post.delay, Payload(kMessage)); !status.ok()) return status;
    }
    bool triggered = false;
    for (const auto& post : script_->event_posts) triggered |= post.lp == lp.lp();
    for (const auto& [who, name] : script_->subscribe_on_event) triggered |= who == lp.lp();
    if (triggered) return lp.Send(lp.lp(), script_->trigger_at, Payload(kTrigger));
    return absl::OkStatus();
  }

  absl::Status OnEvent(LpContext& lp, const Event& event) override {
    if (event.payload[0] == kTrigger) {
      for (const auto& post : script_->event_posts) {
        if (post.lp != lp.lp()) continue;
        if (auto status = lp.Post(post.mailbox, post.delay, Payload(kMessage)); !status.ok()) return status;
      }
      for (const auto& [who, name] : script_->subscribe_on_event) {
        if (who != lp.lp()) continue;
        if (auto status = lp.Subscribe(name); !status.ok()) return status;
      }
      return absl::OkStatus();
    }
    log_->push_back({event.time, event.dst_lp, event.src_lp, event.src_seq});
    return absl::OkStatus();
  }

  void Fold(LpContext&, ResultFolder&) override {}

 private:
  std::span<const std::byte> Payload(std::byte kind) {
    payload_ = kind;
    return {&payload_, 1};
  }
  uint64_t lps_;
  std::shared_ptr<const Script> script_;
  std::vector<Delivery>* log_;
  std::byte payload_{};
};

// A job of `ranks` kernels over `lps` LPs running `script`, in one process.
class MailboxJob {
 public:
  MailboxJob(uint64_t lps, uint32_t ranks, const Script& script, PartitionKind kind = PartitionKind::kBlock)
      : script_(std::make_shared<const Script>(script)),
        mesh_({.seed = 3, .end_time = 20, .lookahead = kLookahead}, *PartitionMap::Create(kind, lps, ranks),
              [&] { return std::make_unique<MailboxModel>(lps, script_, &log_); }) {}

  absl::Status Init() { return mesh_.Init(); }
  absl::Status Run(double end_time) { return mesh_.Run(end_time); }

  // Deliveries per LP, in the order each LP processed them.
  std::map<LpId, std::vector<Delivery>> DeliveriesByLp() const {
    std::map<LpId, std::vector<Delivery>> by_lp;
    for (const Delivery& d : log_) by_lp[d.dst].push_back(d);
    return by_lp;
  }
  // Cross-node events, as (from rank, to rank, mailbox address).
  const std::vector<KernelMesh::Crossing>& crossings() const { return mesh_.crossings(); }
  Kernel& kernel(uint32_t rank) { return mesh_.kernel(rank); }
  uint32_t owner(LpId lp) const { return mesh_.partition().owner(lp); }

 private:
  std::shared_ptr<const Script> script_;
  std::vector<Delivery> log_;
  KernelMesh mesh_;
};

// 40 LPs on 4 ranks (block: 10 each). "group" has subscribers on ranks 0,
// 1 and 3 but none on rank 2.
Script GroupScript() {
  Script script;
  for (LpId lp : {1, 5, 12, 13, 39}) script.subscribe[lp] = {"group"};
  script.subscribe[5].push_back("other");
  return script;
}

TEST(MailboxTest, OnePostReachesEverySubscriberOnEveryNodeExactlyOnce) {
  for (LpId poster : {LpId{5}, LpId{25}}) {  // a subscriber on rank 0; rank 2, which has none
    Script script = GroupScript();
    script.event_posts = {{poster, "group", 2.0}};
    MailboxJob mesh(40, 4, script);
    ASSERT_TRUE(mesh.Init().ok());
    ASSERT_TRUE(mesh.Run(10).ok());

    const auto by_lp = mesh.DeliveriesByLp();
    std::set<LpId> reached;
    for (const auto& [lp, deliveries] : by_lp) {
      ASSERT_EQ(deliveries.size(), 1u) << "lp " << lp << " got the post " << deliveries.size() << " times";
      EXPECT_EQ(deliveries[0].src, poster);
      EXPECT_EQ(deliveries[0].time, script.trigger_at + 2.0);
      reached.insert(lp);
    }
    EXPECT_EQ(reached, (std::set<LpId>{1, 5, 12, 13, 39}));

    // One cross-node event per remote node with subscribers, none to rank 2.
    std::multiset<uint32_t> to_ranks;
    for (const auto& [from, to, address] : mesh.crossings()) {
      EXPECT_TRUE(IsMailboxAddress(address));
      EXPECT_EQ(from, mesh.owner(poster));
      to_ranks.insert(to);
    }
    const std::multiset<uint32_t> expected =
        poster == 5 ? std::multiset<uint32_t>{1, 3} : std::multiset<uint32_t>{0, 1, 3};
    EXPECT_EQ(to_ranks, expected) << "poster " << poster;

    uint64_t posts = 0, deliveries = 0, remote = 0;
    for (uint32_t rank = 0; rank < 4; ++rank) {
      posts += mesh.kernel(rank).mailbox_counters().posts;
      deliveries += mesh.kernel(rank).mailbox_counters().deliveries;
      remote += mesh.kernel(rank).mailbox_counters().remote_events;
    }
    EXPECT_EQ(posts, 1u);
    EXPECT_EQ(deliveries, 5u);
    EXPECT_EQ(remote, expected.size());
  }
}

TEST(MailboxTest, PostsMadeDuringInitAreSentOnceTheTableIsKnown) {
  Script script = GroupScript();
  script.init_posts = {{20, "group", 1.0}, {20, "other", 1.5}};
  MailboxJob mesh(40, 4, script);
  ASSERT_TRUE(mesh.Init().ok());
  ASSERT_TRUE(mesh.Run(5).ok());
  const auto by_lp = mesh.DeliveriesByLp();
  ASSERT_EQ(by_lp.at(5).size(), 2u);  // on both mailboxes
  EXPECT_EQ(by_lp.at(5)[0].seq, 0u);
  EXPECT_EQ(by_lp.at(5)[1].seq, 1u);
  EXPECT_EQ(by_lp.at(39).size(), 1u);
}

// (fmt rather than operator+, which trips a false -Wrestrict in g++ 12.)
std::string GroupName(LpId group) { return fmt::format("m{}", group); }

// Many posters, many mailboxes, simultaneous posts: each LP sees the same
// events in the same order whatever the partition.
TEST(MailboxTest, DeliveryOrderDoesNotDependOnThePartition) {
  Script script;
  for (LpId lp = 0; lp < 30; ++lp) {
    script.subscribe[lp] = {GroupName(lp % 3), "all"};
    script.event_posts.push_back({lp, "all", 1.0});  // all at the same time
    script.event_posts.push_back({lp, GroupName((lp + 1) % 3), 1.0 + (lp % 2)});
  }
  MailboxJob one(30, 1, script);
  ASSERT_TRUE(one.Init().ok());
  ASSERT_TRUE(one.Run(6).ok());
  const auto expected = one.DeliveriesByLp();
  ASSERT_EQ(expected.size(), 30u);
  ASSERT_EQ(expected.at(0).size(), 30u + 10u);
  for (const auto& [lp, deliveries] : expected) {
    for (size_t i = 1; i < deliveries.size(); ++i) {
      const auto& a = deliveries[i - 1];
      const auto& b = deliveries[i];
      EXPECT_TRUE(std::tie(a.time, a.src, a.seq) < std::tie(b.time, b.src, b.seq)) << "lp " << lp;
    }
  }
  for (auto kind : {PartitionKind::kBlock, PartitionKind::kRoundRobin}) {
    for (uint32_t ranks : {2u, 3u, 4u}) {
      MailboxJob many(30, ranks, script, kind);
      ASSERT_TRUE(many.Init().ok());
      ASSERT_TRUE(many.Run(6).ok());
      EXPECT_EQ(many.DeliveriesByLp(), expected) << ranks << " ranks";
    }
  }
}

TEST(MailboxTest, PostToAMailboxNobodySubscribesToNamesTheLpAndMailbox) {
  Script script = GroupScript();
  script.event_posts = {{7, "nobody", 1.0}};
  MailboxJob mesh(40, 2, script);
  ASSERT_TRUE(mesh.Init().ok());
  const absl::Status status = mesh.Run(5);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("lp 7"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("'nobody', which no LP subscribes to"), std::string::npos)
      << status.message();
}

TEST(MailboxTest, PostDuringInitToAMailboxNobodySubscribesToFailsWhenTheTableArrives) {
  Script script = GroupScript();
  script.init_posts = {{3, "nobody", 1.0}};
  MailboxJob mesh(40, 2, script);
  const absl::Status status = mesh.Init();
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("init of lp 3"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("'nobody'"), std::string::npos) << status.message();
}

TEST(MailboxTest, SubscribingOutsideInitIsRefusedNamingTheLpAndMailbox) {
  Script script = GroupScript();
  script.subscribe_on_event = {{8, "late"}};
  MailboxJob mesh(40, 1, script);
  ASSERT_TRUE(mesh.Init().ok());
  const absl::Status status = mesh.Run(5);
  ASSERT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_NE(status.message().find("lp 8"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("'late' outside init"), std::string::npos) << status.message();
}

TEST(MailboxTest, EmptyMailboxNamesAreRefused) {
  Script subscribe;
  subscribe.subscribe[4] = {""};
  MailboxJob a(10, 1, subscribe);
  absl::Status status = a.Init();
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("lp 4"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("the name is empty"), std::string::npos) << status.message();

  Script post = GroupScript();
  post.event_posts = {{6, "", 1.0}};
  MailboxJob b(40, 1, post);
  ASSERT_TRUE(b.Init().ok());
  status = b.Run(5);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("lp 6"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("post to mailbox ''"), std::string::npos) << status.message();
}

TEST(MailboxTest, PostsKeepTheLookaheadRule) {
  Script script = GroupScript();
  script.event_posts = {{5, "group", 0.25}};
  MailboxJob mesh(40, 1, script);
  ASSERT_TRUE(mesh.Init().ok());
  const absl::Status status = mesh.Run(5);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("below the lookahead"), std::string::npos) << status.message();
}

TEST(MailboxTest, ATableThatDisagreesWithThisNodesSubscriptionsIsRefused) {
  Script script = GroupScript();
  MailboxJob mesh(40, 4, script);
  ASSERT_TRUE(mesh.kernel(0).Init().ok());  // LPs 1 and 5 subscribe here
  // Rank 0 missing from "group"'s ranks.
  EXPECT_TRUE(absl::IsInvalidArgument(mesh.kernel(0).InstallMailboxes({{"group", {1, 3}}, {"other", {0}}})));
  // Unsorted names.
  ASSERT_TRUE(mesh.kernel(1).Init().ok());
  EXPECT_TRUE(
      absl::IsInvalidArgument(mesh.kernel(1).InstallMailboxes({{"other", {0}}, {"group", {0, 1, 3}}})));
  // A rank that does not exist.
  ASSERT_TRUE(mesh.kernel(3).Init().ok());
  EXPECT_TRUE(
      absl::IsInvalidArgument(mesh.kernel(3).InstallMailboxes({{"group", {0, 1, 3, 9}}, {"other", {0}}})));
}

TEST(MailboxTest, RunningBeforeTheTableIsInstalledIsRefused) {
  MailboxJob mesh(40, 1, GroupScript());
  ASSERT_TRUE(mesh.kernel(0).Init().ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(mesh.kernel(0).RunWindow(1.0)));
}

}  // namespace
}  // namespace meshsim::sim
