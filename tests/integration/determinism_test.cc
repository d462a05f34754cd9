// The same scenario and seed give the same result on any node count; PHOLD
// behaves as PHOLD. Every run is a real `meshsim run`: a coordinator and N
// node processes talking over ZeroMQ on loopback.
#include <cmath>

#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {
namespace {

class DeterminismTest : public ::testing::Test {
 protected:
  nlohmann::json Run(const std::string& scenario_path, int nodes) {
    const std::string tag = NewTag();
    const std::string out = dir_.path() + "/result-" + tag + ".json";
    auto result = RunMeshsim({"run", scenario_path, "--nodes", std::to_string(nodes), "--json", out}, tag);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_TRUE(TaggedProcesses(tag).empty()) << "meshsim run left processes behind";
    return ReadJson(out);
  }

  TempDir dir_;
  const std::string phold_ = SourcePath("scenarios/phold.yaml");
};

TEST_F(DeterminismTest, SameDigestAndCountOnOneToFourNodes) {
  const nlohmann::json one = Run(phold_, 1);
  ASSERT_EQ(one["state"], "COMPLETED");
  EXPECT_GT(one["committed_events"].get<uint64_t>(), 0u);
  for (int nodes = 2; nodes <= 4; ++nodes) {
    const nlohmann::json many = Run(phold_, nodes);
    ASSERT_EQ(many["state"], "COMPLETED") << many.dump();
    EXPECT_EQ(many["committed_events"], one["committed_events"]) << nodes << " nodes";
    EXPECT_EQ(many["digest"], one["digest"]) << nodes << " nodes";
    EXPECT_EQ(many["windows"], one["windows"]) << nodes << " nodes";
    EXPECT_EQ(many["nodes"].size(), static_cast<size_t>(nodes));
    EXPECT_EQ(many["links"].size(), static_cast<size_t>(nodes * (nodes - 1)));
    // `auto` on one host: every link found its peer's probe and uses shm.
    for (const auto& link : many["links"]) {
      EXPECT_EQ(link["transport"], "shm") << link.dump();
      EXPECT_GT(link["messages"].get<uint64_t>(), 0u);
    }
  }
}

TEST_F(DeterminismTest, TransportDoesNotChangeTheResult) {
  const auto yaml = ReadText(phold_);
  const nlohmann::json one = Run(phold_, 1);
  for (const char* transport : {"tcp", "shm", "auto"}) {
    const auto path = dir_.Write(std::string(transport) + ".yaml",
                                 WithLine(yaml, "transport", std::string("transport: ") + transport));
    const nlohmann::json four = Run(path, 4);
    ASSERT_EQ(four["state"], "COMPLETED") << four.dump();
    EXPECT_EQ(four["digest"], one["digest"]) << transport;
    EXPECT_EQ(four["committed_events"], one["committed_events"]) << transport;
    const std::string expected = std::string(transport) == "tcp" ? "tcp" : "shm";
    ASSERT_EQ(four["links"].size(), 12u);
    for (const auto& link : four["links"]) EXPECT_EQ(link["transport"], expected) << transport;
  }
}

TEST_F(DeterminismTest, PartitionSchemeDoesNotChangeTheResult) {
  const auto yaml = ReadText(phold_);
  const auto block = dir_.Write("block.yaml", WithLine(yaml, "partition", "partition: block"));
  const auto rr = dir_.Write("rr.yaml", WithLine(yaml, "partition", "partition: round_robin"));
  const nlohmann::json a = Run(block, 3);
  const nlohmann::json b = Run(rr, 3);
  EXPECT_EQ(a["digest"], b["digest"]);
  EXPECT_EQ(a["committed_events"], b["committed_events"]);
}

TEST_F(DeterminismTest, DifferentSeedGivesADifferentDigest) {
  const auto other = dir_.Write("seed.yaml", WithLine(ReadText(phold_), "seed", "seed: 43"));
  const nlohmann::json a = Run(phold_, 2);
  const nlohmann::json b = Run(other, 2);
  EXPECT_NE(a["digest"], b["digest"]);
}

// A window whose frames to a peer outgrow its shm ring (1 MiB): both nodes
// send before either reads, so each send waits for room the peer makes
// only by reading. A send reads its own node's rings while it waits; the
// job completes, with the one-node result.
TEST_F(DeterminismTest, WindowFramesLargerThanTheRingDoNotDeadlock) {
  const auto path = dir_.Write("big-window.yaml", R"(name: big-window
model: phold
seed: 3
end_time: 3.0
lookahead: 1.0
transport: shm
params:
  lps: 400000
  start_events: 1
  remote_fraction: 0.9
  mean: 1.0
  payload_bytes: 0
)");
  const nlohmann::json one = Run(path, 1);
  ASSERT_EQ(one["state"], "COMPLETED") << one.dump();
  const nlohmann::json two = Run(path, 2);
  ASSERT_EQ(two["state"], "COMPLETED") << two.dump();
  EXPECT_EQ(two["digest"], one["digest"]);
  EXPECT_EQ(two["committed_events"], one["committed_events"]);
  for (const auto& link : two["links"]) {
    EXPECT_EQ(link["transport"], "shm");
    // More than a ring's worth in each window, or the test shows nothing.
    EXPECT_GT(link["bytes"].get<uint64_t>() / two["windows"].get<uint64_t>(), uint64_t{1} << 20)
        << link.dump();
  }
}

// PHOLD's statistics, derived rather than recorded:
// Each of P = lps * start_events event chains is a renewal process whose
// delays D = L + Exp(m - L) have mean m and variance s^2 = (m - L)^2. Over
// [0, T) a chain commits on average T/m + (s^2 - m^2) / (2 m^2) events with
// variance T s^2 / m^3, and chains draw their delays independently. The
// test allows 6 standard deviations, so it fails for a wrong model and
// essentially never by chance. Each event goes to another LP with
// probability q = remote_fraction * (1 - 1/lps): a binomial over the
// committed events, again at 6 standard deviations.
TEST_F(DeterminismTest, PholdKeepsItsPopulationAndMatchesItsExpectedCounts) {
  const nlohmann::json result = Run(phold_, 2);
  ASSERT_EQ(result["state"], "COMPLETED");
  const auto& s = result["scenario"];
  const auto& p = s["params"];
  const double lps = p["lps"], start = p["start_events"], m = p["mean"], rf = p["remote_fraction"];
  const double lookahead = s["lookahead"], end_time = s["end_time"];
  const double population = lps * start;
  EXPECT_EQ(result["pending_events"].get<double>(), population) << "events were created or lost";

  const double var_d = (m - lookahead) * (m - lookahead);
  const double expected = population * (end_time / m + (var_d - m * m) / (2 * m * m));
  const double sd = std::sqrt(population * end_time * var_d / (m * m * m));
  const double committed = result["committed_events"];
  EXPECT_NEAR(committed, expected, 6 * sd) << "sd " << sd;

  const double q = rf * (1 - 1 / lps);
  const double remote = result["summary"]["remote_sends"];
  EXPECT_NEAR(remote / committed, q, 6 * std::sqrt(q * (1 - q) / committed));
  EXPECT_EQ(result["summary"]["payload_errors"], 0) << "payloads were corrupted in transit";
}

}  // namespace
}  // namespace meshsim::testing
