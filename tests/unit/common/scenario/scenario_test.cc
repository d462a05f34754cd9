#include "common/scenario/scenario.h"

#include <limits>

#include "gtest/gtest.h"
#include "models/builtin.h"

namespace meshsim::scenario {
namespace {

constexpr char kValid[] = R"(
name: t
model: phold
seed: 3
end_time: 10
lookahead: 0.5
nodes: 2
partition: round_robin
transport: tcp
params:
  lps: 64
  remote_fraction: 0.3
)";

class ScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override { models::RegisterBuiltinModels(); }

  // Parses kValid with one line replaced (or appended) and returns the error.
  std::string ErrorWith(const std::string& yaml) {
    auto parsed = ParseYaml(yaml, "s.yaml");
    EXPECT_FALSE(parsed.ok()) << "accepted:\n" << yaml;
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status()));
    return std::string(parsed.status().message());
  }
  static std::string Replace(const std::string& from, const std::string& to) {
    std::string yaml = kValid;
    const size_t at = yaml.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return yaml.replace(at, from.size(), to);
  }
};

TEST_F(ScenarioTest, ValidScenarioParsesAndGetsDefaults) {
  auto parsed = ParseYaml(kValid, "s.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->model(), "phold");
  EXPECT_EQ(parsed->seed(), 3u);
  EXPECT_EQ(parsed->nodes(), 2u);
  EXPECT_EQ(parsed->partition(), v1::PARTITION_ROUND_ROBIN);
  EXPECT_EQ(parsed->transport(), v1::TRANSPORT_TCP);
  EXPECT_EQ(parsed->params().at("lps"), 64);
  EXPECT_EQ(parsed->params().at("start_events"), 1);  // default filled in
  EXPECT_EQ(parsed->params().at("mean"), 1.0);
}

TEST_F(ScenarioTest, ShippedScenariosAreValid) {
  for (const char* file : {"scenarios/phold.yaml", "scenarios/phold-bench.yaml"}) {
    const char* root = std::getenv("MESHSIM_SOURCE_DIR");
    auto parsed = LoadFile(std::string(root ? root : ".") + "/" + file);
    EXPECT_TRUE(parsed.ok()) << file << ": " << parsed.status().message();
  }
}

TEST_F(ScenarioTest, UnknownKeyIsNamedWithItsLine) {
  const auto error = ErrorWith(std::string(kValid) + "colour: blue\n");
  EXPECT_NE(error.find("s.yaml:13: colour: unknown key"), std::string::npos) << error;
}

TEST_F(ScenarioTest, WrongTypesAreNamed) {
  EXPECT_NE(
      ErrorWith(Replace("end_time: 10", "end_time: soon")).find("end_time: expected a number, got 'soon'"),
      std::string::npos);
  EXPECT_NE(ErrorWith(Replace("seed: 3", "seed: -3")).find("seed: expected a non-negative integer"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("nodes: 2", "nodes: [1, 2]")).find("nodes: expected a non-negative integer"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("lps: 64", "lps: many")).find("params.lps: expected a number"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("params:\n  lps: 64\n  remote_fraction: 0.3\n", "params: 5\n"))
                .find("params: expected a mapping"),
            std::string::npos);
}

TEST_F(ScenarioTest, OutOfRangeValuesAreNamed) {
  EXPECT_NE(ErrorWith(Replace("lookahead: 0.5", "lookahead: 0")).find("lookahead: must be > 0"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("nodes: 2", "nodes: 0")).find("nodes: must be between 1 and 256"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("remote_fraction: 0.3", "remote_fraction: 1.5"))
                .find("params.remote_fraction: must be between 0 and 1, got 1.5"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("lps: 64", "lps: 6.5")).find("params.lps: expected an integer, got 6.5"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("partition: round_robin", "partition: random"))
                .find("partition: expected one of block, round_robin, got 'random'"),
            std::string::npos);
}

TEST_F(ScenarioTest, SyncAndItsOptimismBoundParseAndDefault) {
  auto defaulted = ParseYaml(kValid, "s.yaml");
  ASSERT_TRUE(defaulted.ok());
  EXPECT_EQ(defaulted->sync(), v1::SYNC_CONSERVATIVE);
  EXPECT_EQ(OptimismBoundOf(*defaulted).time_window, std::numeric_limits<double>::infinity());
  auto optimistic = ParseYaml(
      std::string(kValid) +
          "sync: optimistic\noptimism: { time_window: 2.5, max_saved_events: 9, check_every: 100 }\n",
      "s.yaml");
  ASSERT_TRUE(optimistic.ok()) << optimistic.status();
  EXPECT_EQ(optimistic->sync(), v1::SYNC_OPTIMISTIC);
  EXPECT_EQ(OptimismBoundOf(*optimistic).time_window, 2.5);
  EXPECT_EQ(OptimismBoundOf(*optimistic).max_saved_events, 9u);
  EXPECT_EQ(optimistic->optimism().check_every(), 100u);
  auto automatic = ParseYaml(std::string(kValid) + "sync: auto\n", "s.yaml");
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ(automatic->sync(), v1::SYNC_AUTO);
}

TEST_F(ScenarioTest, BadSyncValuesAreNamed) {
  EXPECT_NE(ErrorWith(std::string(kValid) + "sync: fast\n")
                .find("s.yaml:13: sync: expected one of conservative, optimistic, auto, got 'fast'"),
            std::string::npos);
  EXPECT_NE(ErrorWith(std::string(kValid) + "sync: [optimistic]\n").find("sync: "), std::string::npos);
  EXPECT_NE(ErrorWith(std::string(kValid) + "optimism: { time_window: -1 }\n")
                .find("optimism.time_window: must be a finite number >= 0"),
            std::string::npos);
  EXPECT_NE(ErrorWith(std::string(kValid) + "optimism: { max_saved_events: lots }\n")
                .find("optimism.max_saved_events: expected a non-negative integer"),
            std::string::npos);
  EXPECT_NE(ErrorWith(std::string(kValid) + "optimism: { depth: 3 }\n")
                .find("optimism.depth: unknown key (expected time_window, max_saved_events or check_every)"),
            std::string::npos);
  EXPECT_NE(ErrorWith(std::string(kValid) + "optimism: { check_every: -5 }\n")
                .find("optimism.check_every: expected a non-negative integer"),
            std::string::npos);
  EXPECT_NE(ErrorWith(std::string(kValid) + "optimism: 5\n").find("optimism: expected a mapping"),
            std::string::npos);
  v1::Scenario from_the_network = *ParseYaml(kValid, "s.yaml");
  from_the_network.set_sync(static_cast<v1::Sync>(42));
  const absl::Status status = Normalize(&from_the_network);
  EXPECT_NE(status.message().find("sync: unknown value"), std::string::npos) << status;
}

TEST_F(ScenarioTest, ModelLevelProblemsAreNamed) {
  EXPECT_NE(ErrorWith(Replace("model: phold", "model: nope"))
                .find("model: unknown model 'nope' (known: epidemic, phold)"),
            std::string::npos);
  EXPECT_NE(ErrorWith(Replace("lps: 64", "lps: 64\n  colour: 1")).find("params.colour: unknown parameter"),
            std::string::npos);
  EXPECT_NE(
      ErrorWith(Replace("remote_fraction: 0.3", "mean: 0.2")).find("params.mean: 0.2 is below the lookahead"),
      std::string::npos);
  EXPECT_NE(ErrorWith(Replace("lps: 64", "lps: 1")).find("nodes: 2 nodes for only 1 LPs"), std::string::npos);
}

TEST_F(ScenarioTest, MissingRequiredFieldsAndBadYamlAreReported) {
  EXPECT_NE(ErrorWith(Replace("lookahead: 0.5\n", "")).find("lookahead: is required"), std::string::npos);
  EXPECT_NE(ErrorWith("model: phold\n  bad: [indent").find("not valid YAML"), std::string::npos);
  EXPECT_NE(ErrorWith("- a list\n").find("expected a mapping"), std::string::npos);
}

TEST_F(ScenarioTest, EveryProblemIsListedNotJustTheFirst) {
  const auto error = ErrorWith(Replace("seed: 3", "seed: x\ncolour: 1"));
  EXPECT_NE(error.find("seed:"), std::string::npos);
  EXPECT_NE(error.find("colour:"), std::string::npos);
}

TEST_F(ScenarioTest, NormalizeRejectsBadScenariosFromTheNetwork) {
  v1::Scenario scenario;
  scenario.set_model("phold");
  scenario.set_end_time(-1);
  scenario.set_lookahead(std::numeric_limits<double>::quiet_NaN());
  (*scenario.mutable_params())["lps"] = 1e12;
  absl::Status status = Normalize(&scenario);
  ASSERT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_NE(status.message().find("end_time"), std::string::npos);
  EXPECT_NE(status.message().find("lookahead"), std::string::npos);
  EXPECT_NE(status.message().find("params.lps"), std::string::npos);
}

}  // namespace
}  // namespace meshsim::scenario
