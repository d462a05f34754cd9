// `meshsim run`: the local cluster as a user meets it. It prints a result,
// and on success, Ctrl-C or its own death leaves no process behind.
#include <signal.h>

#include <cstdlib>

#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kLongScenario[] = R"(
name: long
model: phold
seed: 2
end_time: 1000000
lookahead: 0.1
params:
  lps: 1024
)";

bool LogContains(process::ChildProcess& child, const std::string& text) {
  for (const auto& line : child.Tail()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(RunTest, PrintsTheResultTableAndLeavesNothingBehind) {
  const std::string tag = NewTag();
  auto result = RunMeshsim({"run", SourcePath("scenarios/phold.yaml"), "--nodes", "2"}, tag);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* field : {"COMPLETED", "committed events", "virtual end time", "windows", "wall time",
                            "event rate", "between nodes", "digest", "transport"}) {
    EXPECT_NE(result.output.find(field), std::string::npos) << field << " missing from:\n" << result.output;
  }
  EXPECT_TRUE(TaggedProcesses(tag).empty());
}

// The local cluster is on loopback and needs no keys: a MESHSIM_KEYS in the
// caller's environment (a keyed cluster's directory) must not reach it.
TEST(RunTest, KeysInTheEnvironmentDoNotReachTheLocalCluster) {
  const std::string tag = NewTag();
  TempDir dir;
  ASSERT_EQ(RunMeshsim({"keygen", dir.path() + "/keys"}, tag).exit_code, 0);
  ASSERT_EQ(setenv("MESHSIM_KEYS", (dir.path() + "/keys").c_str(), 1), 0);
  auto result = RunMeshsim({"run", SourcePath("scenarios/phold.yaml"), "--nodes", "2"}, tag);
  unsetenv("MESHSIM_KEYS");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("COMPLETED"), std::string::npos) << result.output;
}

TEST(RunTest, CtrlCCancelsTheJobAndStopsTheCluster) {
  const std::string tag = NewTag();
  TempDir dir;
  auto run =
      StartMeshsim("run", {"run", dir.Write("long.yaml", kLongScenario), "--nodes", "2", "--show-logs"}, tag);
  ASSERT_TRUE(WaitFor([&] { return LogContains(*run, "ASSIGNING -> RUNNING"); }, 30s));
  run->Signal(SIGINT);
  auto status = run->Wait(Deadline::After(20s));
  ASSERT_TRUE(status.has_value()) << "meshsim run ignored Ctrl-C";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 130);
  EXPECT_TRUE(LogContains(*run, "CANCELLED"));
  EXPECT_TRUE(WaitFor([&] { return TaggedProcesses(tag).empty(); }, 10s));
}

TEST(RunTest, ChildrenDieWithTheirParent) {
  const std::string tag = NewTag();
  TempDir dir;
  auto run =
      StartMeshsim("run", {"run", dir.Write("long.yaml", kLongScenario), "--nodes", "3", "--show-logs"}, tag);
  ASSERT_TRUE(WaitFor([&] { return LogContains(*run, "ASSIGNING -> RUNNING"); }, 30s));
  EXPECT_EQ(TaggedProcesses(tag).size(), 5u);  // run, coordinator, 3 nodes
  run->Signal(SIGKILL);
  ASSERT_TRUE(run->Wait(Deadline::After(10s)).has_value());
  EXPECT_TRUE(WaitFor([&] { return TaggedProcesses(tag).empty(); }, 10s))
      << TaggedProcesses(tag).size() << " processes outlived meshsim run";
}

}  // namespace
}  // namespace meshsim::testing
