// Optimistic synchronization (Time Warp) gives the conservative result:
// real `meshsim run`s, a coordinator and N node processes over shm rings or
// ZeroMQ TCP on loopback, against one node run conservatively.
#include <map>
#include <string>

#include "common/strings/format.h"
#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {
namespace {

// PHOLD with half its events sent to another LP: many cross nodes, so at a
// small lookahead nodes run far ahead of each other.
constexpr char kPhold[] = R"(
name: optimistic-phold
model: phold
seed: 5
end_time: 60
lookahead: 0.1
nodes: 1
partition: block
transport: auto
params: { lps: 2048, start_events: 2, remote_fraction: 0.5, mean: 1.0, payload_bytes: 8 }
)";

class OptimisticTest : public ::testing::Test {
 protected:
  nlohmann::json Run(const std::string& yaml, int nodes, const std::string& sync) {
    const std::string tag = NewTag();
    const std::string path = dir_.Write("scenario-" + tag + ".yaml", yaml);
    const std::string out = dir_.path() + "/result-" + tag + ".json";
    auto result =
        RunMeshsim({"run", path, "--nodes", std::to_string(nodes), "--sync", sync, "--json", out}, tag);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_TRUE(TaggedProcesses(tag).empty()) << "meshsim run left processes behind";
    return ReadJson(out);
  }

  // The result fields every protocol, node count and transport must agree on.
  static void ExpectSameResult(const nlohmann::json& got, const nlohmann::json& want,
                               const std::string& what) {
    ASSERT_EQ(got["state"], "COMPLETED") << what << ": " << got.dump();
    EXPECT_EQ(got["digest"], want["digest"]) << what;
    EXPECT_EQ(got["committed_events"], want["committed_events"]) << what;
    EXPECT_EQ(got["pending_events"], want["pending_events"]) << what;
    EXPECT_EQ(got["summary"], want["summary"]) << what;
    // Posts sent on to other nodes depend on the node count; the rest not.
    for (const char* count : {"count", "posts", "deliveries"}) {
      EXPECT_EQ(got["mailboxes"][count], want["mailboxes"][count]) << what << ": mailbox " << count;
    }
    EXPECT_EQ(got.value("series", nlohmann::json()), want.value("series", nlohmann::json())) << what;
  }

  TempDir dir_;
};

// Lookahead 0.1, 0.01 and 0.001 on 2-4 nodes, each over shm or tcp and
// either partition; per-node event counts as the conservative run's.
TEST_F(OptimisticTest, PholdGivesTheOneNodeResultAtEveryLookaheadNodeCountAndTransport) {
  struct Variant {
    const char* lookahead;
    int nodes;
    const char* transport;
    const char* partition;
  };
  const Variant variants[] = {{"0.1", 2, "tcp", "block"},         {"0.1", 4, "shm", "round_robin"},
                              {"0.01", 3, "shm", "block"},        {"0.01", 2, "tcp", "round_robin"},
                              {"0.001", 4, "tcp", "round_robin"}, {"0.001", 2, "shm", "block"}};
  std::map<std::string, nlohmann::json> one_node;
  for (const Variant& v : variants) {
    const std::string what =
        StrCat("lookahead ", v.lookahead, ", ", v.nodes, " ", v.transport, " nodes, ", v.partition);
    std::string yaml = WithLine(kPhold, "lookahead", StrCat("lookahead: ", v.lookahead));
    if (!one_node.contains(v.lookahead)) one_node[v.lookahead] = Run(yaml, 1, "conservative");
    yaml = WithLine(yaml, "transport", StrCat("transport: ", v.transport));
    yaml = WithLine(yaml, "partition", StrCat("partition: ", v.partition));
    const nlohmann::json optimistic = Run(yaml, v.nodes, "optimistic");
    ExpectSameResult(optimistic, one_node[v.lookahead], what);
    EXPECT_EQ(optimistic["sync"], "optimistic") << what;
    ASSERT_TRUE(optimistic.contains("optimistic")) << what;
    const auto& o = optimistic["optimistic"];
    EXPECT_EQ(o["anti_messages_sent"], o["anti_messages_received"]) << what;
    EXPECT_EQ(o["events_run"].get<uint64_t>() - o["rolled_back"].get<uint64_t>(),
              optimistic["committed_events"].get<uint64_t>())
        << what << ": every event run was committed or rolled back";
    for (const auto& link : optimistic["links"]) EXPECT_EQ(link["transport"], v.transport) << what;
    // The conservative run on as many nodes splits the events the same way.
    const nlohmann::json conservative = Run(yaml, v.nodes, "conservative");
    ExpectSameResult(conservative, optimistic, what);
    for (size_t rank = 0; rank < conservative["nodes"].size(); ++rank) {
      EXPECT_EQ(optimistic["nodes"][rank]["events"], conservative["nodes"][rank]["events"])
          << what << ", rank " << rank;
    }
  }
}

// Nodes let run far ahead of each other (a fixed window past GVT of 20
// time units, half of PHOLD's events crossing nodes) meet stragglers: the
// job rolls back and sends anti-messages, and still ends with the result.
TEST_F(OptimisticTest, ForcedStragglersRollBackAndCancelAndGiveTheSameResult) {
  const std::string yaml = WithLine(WithLine(kPhold, "lookahead", "lookahead: 0.01"), "transport",
                                    "transport: tcp\noptimism: { time_window: 20 }");
  const nlohmann::json reference = Run(yaml, 1, "conservative");
  const nlohmann::json result = Run(yaml, 3, "optimistic");
  ExpectSameResult(result, reference, "3 tcp nodes, window 20");
  const auto& o = result["optimistic"];
  EXPECT_GT(o["rollbacks"].get<uint64_t>(), 0u) << o.dump();
  EXPECT_GT(o["rolled_back"].get<uint64_t>(), 0u) << o.dump();
  EXPECT_GT(o["anti_messages_sent"].get<uint64_t>(), 0u) << o.dump();
  EXPECT_LT(o["efficiency"].get<double>(), 1.0);
}

// The smallest bound there is: one lookahead past GVT and one saved event
// (a node at the bound runs only events at GVT).
TEST_F(OptimisticTest, TheSmallestOptimismBoundCompletesWithTheSameResult) {
  const std::string yaml = WithLine(WithLine(kPhold, "end_time", "end_time: 15"), "transport",
                                    "transport: shm\noptimism: { time_window: 0.1, max_saved_events: 1 }");
  const nlohmann::json reference = Run(yaml, 1, "conservative");
  const nlohmann::json result = Run(yaml, 3, "optimistic");
  ExpectSameResult(result, reference, "3 shm nodes, smallest bound");
}

// Posts to households and workplaces: a cancelled post is cancelled at
// every subscriber on every node. The model-contract check runs every
// 50th event twice on every node, and the epidemic keeps it.
TEST_F(OptimisticTest, EpidemicGivesTheSameCurveWithMailboxesAcrossNodes) {
  constexpr char kEpidemic[] = R"(
name: optimistic-epidemic
model: epidemic
seed: 9
end_time: 60
lookahead: 0.5
nodes: 1
transport: tcp
params: { persons: 20000, initial_infected: 10 }
optimism: { check_every: 50 }
)";
  const nlohmann::json reference = Run(kEpidemic, 1, "conservative");
  ASSERT_GT(reference["mailboxes"]["posts"].get<uint64_t>(), 0u);
  const nlohmann::json optimistic = Run(kEpidemic, 3, "optimistic");
  ExpectSameResult(optimistic, reference, "3 tcp nodes");
  EXPECT_EQ(optimistic["mailboxes"], Run(kEpidemic, 3, "conservative")["mailboxes"]);
}

TEST_F(OptimisticTest, AutoRunsOneNodeConservativelyAndSeveralOptimistically) {
  const std::string yaml = WithLine(kPhold, "end_time", "end_time: 10");
  const nlohmann::json one = Run(yaml, 1, "auto");
  const nlohmann::json two = Run(yaml, 2, "auto");
  EXPECT_EQ(one["sync"], "conservative");
  EXPECT_FALSE(one.contains("optimistic"));
  EXPECT_EQ(two["sync"], "optimistic");
  ExpectSameResult(two, one, "2 nodes, auto");
}

}  // namespace
}  // namespace meshsim::testing
