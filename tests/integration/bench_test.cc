// The bench commands run briefly and report something well-formed: every
// mechanism and size present, sane numbers (never fast ones: that is the
// benchmark's job, not a test's), files written, nothing left behind.
#include <filesystem>
#include <fstream>
#include <set>

#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {
namespace {

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class BenchTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(BenchTest, IpcMeasuresEveryMechanismAtEverySizeAndWritesEachFormat) {
  const std::string json = dir_.path() + "/ipc.json";
  const std::string csv = dir_.path() + "/ipc.csv";
  const std::string plot = dir_.path() + "/ipc.svg";
  const std::string tag = NewTag();
  auto result = RunMeshsim({"bench", "ipc", "--seconds", "0.01", "--repetitions", "2", "--sizes", "64,1K",
                            "--json", json, "--csv", csv, "--plot", plot},
                           tag);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(TaggedProcesses(tag).empty()) << "bench ipc left a peer process behind";

  // The table names every mechanism.
  const std::vector<std::string> mechanisms = {"meshsim shm ring", "pipe pair",     "unix socket",
                                               "tcp loopback",     "zeromq tcp://", "zeromq ipc://",
                                               "zeromq inproc://", "meshsim rpc",   "meshsim rpc+curve"};
  for (const auto& name : mechanisms) EXPECT_NE(result.output.find(name), std::string::npos) << name;
  EXPECT_NE(result.output.find("lowest latency"), std::string::npos) << result.output;

  const nlohmann::json document = ReadJson(json);
  EXPECT_EQ(document["repetitions"], 2);
  std::set<std::pair<std::string, size_t>> seen;
  for (const auto& row : document["results"]) {
    const std::string name = row["mechanism"];
    const double p50 = row["p50_us"], p99 = row["p99_us"], rate = row["messages_per_second"];
    EXPECT_GT(p50, 0) << row.dump();
    EXPECT_GE(p99, p50) << row.dump();
    EXPECT_GT(rate, 0) << row.dump();
    EXPECT_NEAR(row["megabytes_per_second"].get<double>(), rate * row["size_bytes"].get<double>() / 1e6,
                1e-6 * rate)
        << row.dump();
    seen.insert({name, row["size_bytes"].get<size_t>()});
  }
  for (const auto& name : mechanisms) {
    EXPECT_TRUE(seen.contains({name, 64})) << name;
    EXPECT_TRUE(seen.contains({name, 1024})) << name;
  }
  EXPECT_EQ(seen.size(), mechanisms.size() * 2);

  const auto rows = Lines(csv);
  ASSERT_EQ(rows.size(), 1 + mechanisms.size() * 2);
  EXPECT_EQ(rows[0], "mechanism,size_bytes,p50_us,p99_us,messages_per_second,megabytes_per_second,note");

  const auto svg = ReadText(plot);
  EXPECT_NE(svg.find("<svg"), std::string::npos) << "not an SVG";
  EXPECT_NE(svg.find("Round-trip latency"), std::string::npos);
}

TEST_F(BenchTest, IpcRefusesBadOptionsBeforeMeasuring) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--sizes", "0"},
                                               {"--sizes", "12Q"},
                                               {"--seconds", "0"},
                                               {"--plot", dir_.path() + "/chart.gif"}}) {
    std::vector<std::string> command = {"bench", "ipc"};
    command.insert(command.end(), args.begin(), args.end());
    auto result = RunMeshsim(command, NewTag(), std::chrono::seconds(10));
    EXPECT_EQ(result.exit_code, 2) << args[0] << " " << args[1] << ": " << result.output;
    EXPECT_EQ(result.output.find("measuring"), std::string::npos) << "measured despite bad input";
  }
}

// A short PHOLD over 1 and 2 nodes, both transports, two remote fractions:
// every point runs, one node is the baseline, and the digest depends only on
// the parameter (the determinism guarantee, seen through the sweep).
TEST_F(BenchTest, SweepRunsTheGridAndReportsSpeedupAgainstOneNode) {
  const std::string scenario = dir_.Write(
      "short.yaml", WithLine(ReadText(SourcePath("scenarios/phold.yaml")), "end_time", "end_time: 20.0"));
  const std::string json = dir_.path() + "/sweep.json";
  const std::string csv = dir_.path() + "/sweep.csv";
  const std::string plot = dir_.path() + "/sweep.svg";
  const std::string tag = NewTag();
  auto result =
      RunMeshsim({"bench", "sweep", scenario, "--nodes", "1,2", "--transports", "shm,tcp", "--param",
                  "remote_fraction=0.1,0.4", "--json", json, "--csv", csv, "--plot", plot},
                 tag);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(TaggedProcesses(tag).empty()) << "bench sweep left processes behind";

  const nlohmann::json document = ReadJson(json);
  EXPECT_EQ(document["parameter"], "remote_fraction");
  const auto& points = document["points"];
  ASSERT_EQ(points.size(), 6u) << document.dump(2);  // per value: 1 node, 2 nodes x 2 transports
  std::map<double, std::string> digest_of;
  std::set<std::pair<double, std::string>> two_node_transports;
  for (const auto& p : points) {
    const double value = p["remote_fraction"];
    EXPECT_GT(p["event_rate"].get<double>(), 0) << p.dump();
    EXPECT_NEAR(p["efficiency"].get<double>(), p["speedup"].get<double>() / p["nodes"].get<double>(), 1e-9);
    if (p["nodes"] == 1) {
      EXPECT_DOUBLE_EQ(p["speedup"].get<double>(), 1.0);
    } else {
      two_node_transports.insert({value, p["transport"]});
    }
    if (!digest_of.contains(value)) digest_of[value] = p["digest"];
    EXPECT_EQ(p["digest"], digest_of[value]) << "the result changed with nodes or transport: " << p.dump();
  }
  EXPECT_NE(digest_of[0.1], digest_of[0.4]);
  EXPECT_EQ(two_node_transports.size(), 4u);
  EXPECT_EQ(Lines(csv).size(), 7u);
  EXPECT_NE(ReadText(plot).find("<svg"), std::string::npos);
}

TEST_F(BenchTest, SweepNamesABadParameterBeforeStartingAnything) {
  const std::string tag = NewTag();
  auto result = RunMeshsim({"bench", "sweep", SourcePath("scenarios/phold.yaml"), "--param", "colour=1,2"},
                           tag, std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("colour"), std::string::npos) << result.output;
  auto nodes = RunMeshsim({"bench", "sweep", SourcePath("scenarios/phold.yaml"), "--nodes", "1,x"}, tag,
                          std::chrono::seconds(10));
  EXPECT_EQ(nodes.exit_code, 2) << nodes.output;
}

TEST_F(BenchTest, EveryShippedScenarioIsValid) {
  int checked = 0;
  for (const char* folder : {"scenarios", "scenarios/load"}) {
    for (const auto& entry : std::filesystem::directory_iterator(SourcePath(folder))) {
      if (entry.path().extension() != ".yaml") continue;
      auto result = RunMeshsim({"validate", entry.path().string()}, NewTag(), std::chrono::seconds(10));
      EXPECT_EQ(result.exit_code, 0) << entry.path() << ": " << result.output;
      ++checked;
    }
  }
  EXPECT_GE(checked, 8);
}

}  // namespace
}  // namespace meshsim::testing
