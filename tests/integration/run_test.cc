// `meshsim run`: the local cluster as a user meets it. It prints a result,
// and on success, Ctrl-C or its own death leaves no process behind.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "fmt/format.h"
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

std::vector<std::filesystem::path> StateDirsIn(const std::string& dir) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("meshsim-run-", 0) == 0) found.push_back(entry.path());
  }
  return found;
}

TEST(RunTest, PrintsTheResultTableAndLeavesNothingBehind) {
  const std::string tag = NewTag();
  TempDir tmp;
  ASSERT_EQ(setenv("TMPDIR", tmp.path().c_str(), 1), 0);
  auto result = RunMeshsim({"run", SourcePath("scenarios/phold.yaml"), "--nodes", "2"}, tag);
  unsetenv("TMPDIR");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(StateDirsIn(tmp.path()).empty()) << "the state directory was left in " << tmp.path();
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

// Killed outright, it cannot clean up: its children die with it, and the
// next `meshsim run` removes the state directory it left.
TEST(RunTest, ChildrenDieWithTheirParentAndTheNextRunRemovesWhatItLeft) {
  const std::string tag = NewTag();
  TempDir dir;
  TempDir tmp;  // the runs' TMPDIR, where their state directories go
  ASSERT_EQ(setenv("TMPDIR", tmp.path().c_str(), 1), 0);
  auto run =
      StartMeshsim("run", {"run", dir.Write("long.yaml", kLongScenario), "--nodes", "3", "--show-logs"}, tag);
  unsetenv("TMPDIR");
  ASSERT_TRUE(WaitFor([&] { return LogContains(*run, "ASSIGNING -> RUNNING"); }, 30s));
  EXPECT_EQ(TaggedProcesses(tag).size(), 5u);  // run, coordinator, 3 nodes
  run->Signal(SIGKILL);
  ASSERT_TRUE(run->Wait(Deadline::After(10s)).has_value());
  EXPECT_TRUE(WaitFor([&] { return TaggedProcesses(tag).empty(); }, 10s))
      << TaggedProcesses(tag).size() << " processes outlived meshsim run";

  const auto left = StateDirsIn(tmp.path());
  ASSERT_EQ(left.size(), 1u);
  // A minute old, as a run's that is no longer starting (younger ones are
  // let be: their coordinator may not have locked them yet).
  const auto lock = left[0] / "LOCK";
  std::filesystem::last_write_time(lock, std::filesystem::last_write_time(lock) - std::chrono::minutes(2));
  // A live run's directory, locked the way its coordinator locks it, stays.
  const std::filesystem::path live = tmp.path() + "/meshsim-run-live";
  std::filesystem::create_directory(live);
  const int live_lock = ::open((live / "LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(live_lock, 0);
  ASSERT_EQ(::flock(live_lock, LOCK_EX | LOCK_NB), 0);
  std::filesystem::last_write_time(live / "LOCK",
                                   std::filesystem::last_write_time(live / "LOCK") - std::chrono::minutes(2));

  ASSERT_EQ(setenv("TMPDIR", tmp.path().c_str(), 1), 0);
  auto next = RunMeshsim({"run", SourcePath("scenarios/phold.yaml"), "--nodes", "1"}, tag);
  unsetenv("TMPDIR");
  ::close(live_lock);
  EXPECT_EQ(next.exit_code, 0) << next.output;
  EXPECT_EQ(StateDirsIn(tmp.path()), std::vector<std::filesystem::path>{live});
}

std::string PholdWithLps(uint64_t lps) {
  return fmt::format(R"(
name: memory
model: phold
seed: 5
end_time: 2
lookahead: 0.5
params:
  lps: {}
  start_events: 4
  payload_bytes: 0
)",
                     lps);
}

// Each node reports its job's memory: the kernel's parts, which grow with
// the LPs it holds, and the process's peak, which holds them.
TEST(RunTest, ReportsEachNodesMemory) {
  TempDir dir;
  auto run = [&](uint64_t lps) {
    const std::string tag = NewTag();
    const std::string out = dir.path() + "/" + tag + ".json";
    auto result =
        RunMeshsim({"run", dir.Write(tag + ".yaml", PholdWithLps(lps)), "--nodes", "2", "--json", out}, tag);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("peak resident over 2 node(s)"), std::string::npos) << result.output;
    return ReadJson(out);
  };
  const nlohmann::json small = run(50'000);
  const nlohmann::json large = run(200'000);
  for (const nlohmann::json* job : {&small, &large}) {
    ASSERT_EQ((*job)["state"], "COMPLETED") << job->dump();
    uint64_t peak_sum = 0;
    for (const auto& node : (*job)["nodes"]) {
      const auto& m = node["memory"];
      const uint64_t lps = node["lps"];
      const uint64_t parts = m["lp_state_bytes"].get<uint64_t>() + m["lp_record_bytes"].get<uint64_t>() +
                             m["pending_event_bytes"].get<uint64_t>() +
                             m["saved_state_bytes"].get<uint64_t>();
      EXPECT_EQ(m["kernel_bytes"].get<uint64_t>(), parts) << m.dump();
      // A random stream and two counters per LP at least; a queue key per
      // pending event at least (16 bytes of time and sequence alone).
      EXPECT_GE(m["lp_record_bytes"].get<uint64_t>(), lps * 16) << m.dump();
      EXPECT_GE(m["pending_event_bytes"].get<uint64_t>(), node["pending_events"].get<uint64_t>() * 16);
      EXPECT_EQ(m["saved_state_bytes"], 0u) << "a conservative run saves no state";
      EXPECT_GT(m["peak_rss_bytes"].get<uint64_t>(), m["kernel_bytes"].get<uint64_t>()) << m.dump();
      peak_sum += m["peak_rss_bytes"].get<uint64_t>();
    }
    EXPECT_EQ((*job)["memory"]["peak_rss_bytes"].get<uint64_t>(), peak_sum);
  }
  // The per-LP arrays are exactly four times as large for four times the
  // LPs; the peak grows with them.
  EXPECT_EQ(large["memory"]["lp_state_bytes"].get<uint64_t>(),
            4 * small["memory"]["lp_state_bytes"].get<uint64_t>());
  EXPECT_EQ(large["memory"]["lp_record_bytes"].get<uint64_t>(),
            4 * small["memory"]["lp_record_bytes"].get<uint64_t>());
  EXPECT_GT(large["memory"]["peak_rss_bytes"].get<uint64_t>(),
            small["memory"]["peak_rss_bytes"].get<uint64_t>() +
                3 * small["memory"]["lp_record_bytes"].get<uint64_t>());
}

}  // namespace
}  // namespace meshsim::testing
