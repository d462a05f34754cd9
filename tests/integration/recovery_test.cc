// A job outlives its processes: real coordinator and node processes,
// SIGKILLed at random points of a job, a coordinator restarted on its state
// directory, checkpoints cut short, damaged, or refused by a full disk. In
// every case the job must end COMPLETED with the result of a run that lost
// nothing.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// About 4 s on three nodes here, with a checkpoint every 0.3 s.
constexpr char kPhold[] = R"(
name: recovery-phold
model: phold
seed: 21
end_time: 1500
lookahead: 0.1
nodes: 3
checkpoint: { every_seconds: 0.3 }
params: { lps: 8192, start_events: 2, remote_fraction: 0.2, mean: 1.0, payload_bytes: 8 }
)";

// A town of 200,000: a few seconds on three nodes, the curve rising.
constexpr char kEpidemic[] = R"(
name: recovery-epidemic
model: epidemic
seed: 7
end_time: 150
lookahead: 0.5
nodes: 3
checkpoint: { every_seconds: 0.3 }
params: { persons: 200000, initial_infected: 20 }
)";

// The result fields that must not change when a job loses processes.
struct Answer {
  uint64_t committed = 0;
  std::string digest;
  nlohmann::json summary;
  nlohmann::json series;
};

Answer AnswerOf(const nlohmann::json& job) {
  return {job.value("committed_events", uint64_t{0}), job.value("digest", std::string()),
          job.value("summary", nlohmann::json()), job.value("series", nlohmann::json())};
}

void ExpectSameAnswer(const nlohmann::json& job, const Answer& expected) {
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump(2);
  const Answer got = AnswerOf(job);
  EXPECT_EQ(got.committed, expected.committed);
  EXPECT_EQ(got.digest, expected.digest);
  EXPECT_EQ(got.summary, expected.summary);
  EXPECT_EQ(got.series, expected.series);
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const unsigned seed = std::random_device{}();
    random_.seed(seed);
    std::cout << "random seed " << seed << "\n";
    state_dir_ = dir_.path() + "/state";
  }

  void TearDown() override {
    nodes_.clear();
    coordinator_.reset();
    EXPECT_TRUE(TaggedProcesses(tag_).empty()) << "processes left behind";
  }

  // Starts (or starts again, on the same endpoint and state directory) the
  // coordinator.
  void StartCoordinator(double recovery_grace = 1.0, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"coordinator",
                                     "--bind",
                                     endpoint_.empty() ? "tcp://127.0.0.1:0" : endpoint_,
                                     "--state-dir",
                                     state_dir_,
                                     "--node-timeout",
                                     "1",
                                     "--heartbeat-interval",
                                     "0.1",
                                     "--recovery-grace",
                                     std::to_string(recovery_grace),
                                     "--metrics-port",
                                     "auto"};
    args.insert(args.end(), extra.begin(), extra.end());
    coordinator_ = StartMeshsim("coordinator", args, tag_);
    auto endpoint = coordinator_->WaitForStatus("rpc", Deadline::After(15s));
    ASSERT_TRUE(endpoint.ok()) << endpoint.status() << "\n" << Tail(*coordinator_);
    endpoint_ = *endpoint;
    metrics_url_ = *coordinator_->WaitForStatus("metrics", Deadline::After(5s));
  }

  void KillCoordinator() {
    coordinator_->Signal(SIGKILL);
    coordinator_->Wait(Deadline::After(5s));
  }

  void StartNodes(int count) {
    for (int i = 0; i < count; ++i) {
      const std::string name = "node-" + std::to_string(nodes_.size() + 1);
      nodes_.push_back(StartMeshsim(name, {"node", "--coordinator", endpoint_, "--name", name}, tag_));
    }
    for (auto& node : nodes_) ASSERT_TRUE(node->WaitForStatus("node_id", Deadline::After(15s)).ok());
  }

  uint64_t SubmitDetached(const std::string& yaml) {
    const std::string path = dir_.Write("job-" + std::to_string(++submitted_) + ".yaml", yaml);
    auto result =
        RunMeshsim({"submit", path, "--coordinator", endpoint_, "--detach", "--json", "-"}, tag_, 30s);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    try {
      return nlohmann::json::parse(result.output.substr(result.output.find('{')))["job_id"].get<uint64_t>();
    } catch (const std::exception&) {
      ADD_FAILURE() << "submit printed no job id: " << result.output;
      return 0;
    }
  }

  nlohmann::json Status(uint64_t job) {
    auto result =
        RunMeshsim({"status", std::to_string(job), "--coordinator", endpoint_, "--json"}, tag_, 20s);
    try {
      return nlohmann::json::parse(result.output.substr(result.output.find('{')));
    } catch (const std::exception&) {
      return {};
    }
  }

  nlohmann::json WaitForState(uint64_t job, const std::string& state, Duration timeout) {
    nlohmann::json last;
    WaitFor(
        [&] {
          last = Status(job);
          return last.value("state", "") == state;
        },
        timeout);
    return last;
  }

  // Waits until the job runs and has stored at least `checkpoints`.
  nlohmann::json WaitForCheckpoints(uint64_t job, uint64_t checkpoints) {
    nlohmann::json last;
    const bool got = WaitFor(
        [&] {
          last = Status(job);
          return last.value("state", "") == "RUNNING" &&
                 last.value("checkpoints_written", uint64_t{0}) >= checkpoints;
        },
        60s);
    EXPECT_TRUE(got) << last.dump(2);
    return last;
  }

  // The answer of the same scenario on one node that nothing disturbs.
  Answer Reference(const std::string& yaml) {
    const std::string path = dir_.Write("reference.yaml", yaml);
    const std::string out = dir_.path() + "/reference.json";
    auto result = RunMeshsim({"run", path, "--nodes", "1", "--json", out}, tag_, 180s);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return AnswerOf(ReadJson(out));
  }

  // The node process running rank `rank` of the job (waiting for it to be
  // registered, e.g. with a coordinator that just restarted).
  process::ChildProcess* NodeOfRank(const nlohmann::json& job, size_t rank) {
    const auto assigned = job["assigned_nodes"].get<std::vector<uint32_t>>();
    process::ChildProcess* found = nullptr;
    WaitFor(
        [&] {
          auto listed = RunMeshsim({"nodes", "--coordinator", endpoint_, "--json"}, tag_, 20s);
          for (const auto& node : nlohmann::json::parse(listed.output, nullptr, false)) {
            if (node["id"].get<uint32_t>() != assigned.at(rank)) continue;
            for (auto& process : nodes_) {
              if (process->name() == node["name"]) found = process.get();
            }
          }
          return found != nullptr;
        },
        15s);
    if (found == nullptr) ADD_FAILURE() << "no process for rank " << rank << " of " << job.dump();
    return found;
  }

  Duration RandomDelay(double min_seconds, double max_seconds) {
    std::uniform_real_distribution<double> seconds(min_seconds, max_seconds);
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds(random_)));
  }

  static std::string Tail(process::ChildProcess& process) {
    std::string out;
    for (const auto& line : process.Tail()) out += line + "\n";
    return out;
  }

  bool LogHas(process::ChildProcess& process, const std::string& text) {
    return Tail(process).find(text) != std::string::npos;
  }

  // Kills the node of a random rank at a random point after each attempt's
  // first checkpoint, `kills` times, and checks the job recovers each time
  // with the right answer.
  void KillNodesAndExpectRecovery(const std::string& yaml, int spare_nodes, int kills = 1) {
    const Answer expected = Reference(yaml);
    StartCoordinator();
    StartNodes(3 + spare_nodes);
    const uint64_t job = SubmitDetached(yaml);
    uint64_t checkpoints = 0;
    for (int kill = 0; kill < kills; ++kill) {
      // Running as the attempt after the last kill, with a checkpoint of its own.
      nlohmann::json running;
      ASSERT_TRUE(WaitFor(
          [&] {
            running = Status(job);
            return running.value("state", "") == "RUNNING" && running.value("attempt", 0) == kill + 1 &&
                   running.value("checkpoints_written", uint64_t{0}) > checkpoints;
          },
          60s))
          << running.dump(2);
      checkpoints = running["checkpoints_written"];
      std::this_thread::sleep_for(RandomDelay(0, 0.8));  // a random point of the run
      const size_t ranks = running["assigned_nodes"].size();
      const size_t rank = std::uniform_int_distribution<size_t>(0, ranks - 1)(random_);
      process::ChildProcess* victim = NodeOfRank(running, rank);
      ASSERT_NE(victim, nullptr);
      victim->Signal(SIGKILL);
    }
    const auto done = WaitForState(job, "COMPLETED", 120s);
    ExpectSameAnswer(done, expected);
    ASSERT_EQ(done["restarts"].size(), static_cast<size_t>(kills)) << done.dump(2);
    for (const auto& restart : done["restarts"]) {
      EXPECT_NE(restart["reason"].get<std::string>().find("lost"), std::string::npos) << restart.dump();
      EXPECT_GT(restart["from_window"].get<uint64_t>(), 0u) << "the restart should use a checkpoint";
    }
    EXPECT_EQ(done["restarts"].back()["attempt"], kills + 1);
    EXPECT_EQ(done["restarts"][0]["nodes"], spare_nodes > 0 ? 3 : 2);
    EXPECT_TRUE(LogHas(*coordinator_, "restores the checkpoint at window")) << Tail(*coordinator_);
  }

  std::string tag_ = NewTag();
  TempDir dir_;
  std::string state_dir_;
  std::string endpoint_;
  std::string metrics_url_;
  std::unique_ptr<process::ChildProcess> coordinator_;
  std::vector<std::unique_ptr<process::ChildProcess>> nodes_;
  std::mt19937_64 random_;
  int submitted_ = 0;
};

TEST_F(RecoveryTest, PholdLosingNodesTwiceWithSparesEndsWithTheUndisturbedResult) {
  KillNodesAndExpectRecovery(kPhold, /*spare_nodes=*/2, /*kills=*/2);
}

TEST_F(RecoveryTest, PholdLosingANodeWithoutASpareRestartsOnFewerNodesWithTheSameResult) {
  KillNodesAndExpectRecovery(kPhold, /*spare_nodes=*/0);
}

TEST_F(RecoveryTest, EpidemicLosingANodeEndsWithTheSameCurve) {
  KillNodesAndExpectRecovery(kEpidemic, /*spare_nodes=*/0);
}

TEST_F(RecoveryTest, KilledCoordinatorRestartedMidJobFinishesItWithTheSameDigest) {
  const Answer expected = Reference(kPhold);
  // Time enough for every node to come back, even on a loaded machine.
  const double grace = 8.0;
  StartCoordinator(grace);
  StartNodes(3);
  const uint64_t job = SubmitDetached(kPhold);
  WaitForCheckpoints(job, 1);
  std::this_thread::sleep_for(RandomDelay(0, 0.5));
  KillCoordinator();
  std::this_thread::sleep_for(RandomDelay(0.2, 1.5));  // the nodes carry on alone
  StartCoordinator(grace);
  const auto done = WaitForState(job, "COMPLETED", 120s);
  ExpectSameAnswer(done, expected);
  EXPECT_EQ(done["attempt"], 1) << "the nodes carried on; nothing was restarted";
}

TEST_F(RecoveryTest, ResultsFinishedWhileTheCoordinatorWasAwayAreDeliveredWhenItIsBack) {
  const Answer expected = Reference(kPhold);
  const double grace = 8.0;
  StartCoordinator(grace);
  StartNodes(3);
  const uint64_t job = SubmitDetached(kPhold);
  WaitForCheckpoints(job, 1);
  KillCoordinator();
  // Every node finishes its part with nobody to tell.
  for (auto& node : nodes_) {
    ASSERT_TRUE(WaitFor([&] { return LogHas(*node, "job " + std::to_string(job) + ": done"); }, 60s))
        << Tail(*node);
  }
  StartCoordinator(grace);
  const auto done = WaitForState(job, "COMPLETED", 60s);
  ExpectSameAnswer(done, expected);
  EXPECT_EQ(done["attempt"], 1);
  for (auto& node : nodes_) {
    EXPECT_TRUE(WaitFor([&] { return LogHas(*node, "report delivered"); }, 10s)) << Tail(*node);
  }
}

TEST_F(RecoveryTest, KilledCoordinatorKeepsQueuedAndFinishedJobsAndNeverReusesIds) {
  constexpr char kShort[] = R"(
model: phold
seed: 3
end_time: 50
lookahead: 0.1
nodes: 1
params: { lps: 512 }
)";
  StartCoordinator();
  StartNodes(1);
  std::vector<uint64_t> finished;
  for (int i = 0; i < 3; ++i) {
    finished.push_back(SubmitDetached(kShort));
    ASSERT_EQ(WaitForState(finished.back(), "COMPLETED", 60s)["state"], "COMPLETED");
  }
  std::map<uint64_t, std::string> digests;
  for (uint64_t job : finished) digests[job] = Status(job)["digest"];
  // Two-node jobs wait: only one node is there.
  const std::string two_nodes = WithLine(kShort, "nodes", "nodes: 2");
  std::vector<uint64_t> queued;
  for (int i = 0; i < 4; ++i) queued.push_back(SubmitDetached(two_nodes));
  for (uint64_t job : queued) EXPECT_EQ(Status(job)["state"], "QUEUED");

  KillCoordinator();
  StartCoordinator();
  for (uint64_t job : finished) {
    const auto status = Status(job);
    EXPECT_EQ(status["state"], "COMPLETED") << status.dump();
    EXPECT_EQ(status["digest"], digests[job]);
    EXPECT_FALSE(status["nodes"].empty()) << "the per-node table is kept";
  }
  for (uint64_t job : queued) EXPECT_EQ(Status(job)["state"], "QUEUED");
  const uint64_t next = SubmitDetached(kShort);
  EXPECT_GT(next, queued.back()) << "job ids are never reused";

  // A second node: the queued jobs run, in the order they were submitted.
  StartNodes(1);
  std::vector<double> started;
  for (uint64_t job : queued) {
    const auto status = WaitForState(job, "COMPLETED", 60s);
    ASSERT_EQ(status["state"], "COMPLETED") << status.dump();
    for (const auto& change : status["history"]) {
      if (change["state"] == "RUNNING") started.push_back(change["at_unix"]);
    }
  }
  EXPECT_TRUE(std::is_sorted(started.begin(), started.end()));
}

// Parts big enough (several MB) that their writes can be caught in progress.
constexpr char kBigPhold[] = R"(
name: big-checkpoints
model: phold
seed: 9
end_time: 60
lookahead: 0.1
nodes: 3
checkpoint: { every_seconds: 0.5 }
params: { lps: 300000, start_events: 1, remote_fraction: 0.1, mean: 1.0 }
)";

bool AnyTemporaryPart(const std::string& directory) {
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(directory, error); !error && it != fs::end(it);
       it.increment(error)) {
    if (it->path().extension() == ".tmp") return true;
  }
  return false;
}

TEST_F(RecoveryTest, CoordinatorKilledWhileWritingACheckpointRestartsFromThePreviousComplete) {
  const Answer expected = Reference(kBigPhold);
  const double grace = 8.0;  // the nodes come back to the restarted coordinator
  StartCoordinator(grace);
  StartNodes(3);
  const uint64_t job = SubmitDetached(kBigPhold);
  const auto first = WaitForCheckpoints(job, 1);
  const uint64_t complete_window = first["checkpoint"]["window"];
  // Kill the coordinator while a later checkpoint's part is being written.
  ASSERT_TRUE(WaitFor([&] { return AnyTemporaryPart(state_dir_ + "/checkpoints"); }, 60s));
  KillCoordinator();
  StartCoordinator(grace);
  EXPECT_FALSE(AnyTemporaryPart(state_dir_ + "/checkpoints")) << "half-written parts are swept";
  nlohmann::json after;
  ASSERT_TRUE(WaitFor(
      [&] {
        after = Status(job);
        return after.value("state", "") == "RUNNING";
      },
      30s))
      << after.dump(2);
  ASSERT_TRUE(after.contains("checkpoint")) << after.dump(2);
  const uint64_t usable = after["checkpoint"]["window"];
  EXPECT_GE(usable, complete_window);
  // Now lose a node: the restart must take the last complete checkpoint.
  process::ChildProcess* victim = NodeOfRank(after, 1);
  ASSERT_NE(victim, nullptr);
  victim->Signal(SIGKILL);
  const auto done = WaitForState(job, "COMPLETED", 180s);
  ExpectSameAnswer(done, expected);
  ASSERT_GE(done["restarts"].size(), 1u) << done.dump(2);
  EXPECT_GE(done["restarts"][0]["from_window"].get<uint64_t>(), usable);
}

TEST_F(RecoveryTest, FlippedByteInTheNewestCheckpointIsDetectedAndTheOneBeforeIsUsed) {
  // Long enough to still run after three checkpoints 1.5 s apart on a fast
  // machine: the test needs a newest checkpoint to damage before the end.
  const std::string yaml = WithLine(WithLine(kPhold, "checkpoint", "checkpoint: { every_seconds: 1.5 }"),
                                    "end_time", "end_time: 4000");
  const Answer expected = Reference(yaml);
  StartCoordinator();
  StartNodes(3);
  const uint64_t job = SubmitDetached(yaml);
  WaitForCheckpoints(job, 2);
  // Right after a checkpoint completes, so the next is 1.5 s away.
  const uint64_t seen = Status(job)["checkpoints_written"];
  nlohmann::json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = Status(job);
        return status.value("checkpoints_written", uint64_t{0}) > seen;
      },
      30s));
  const uint64_t window = status["checkpoint"]["window"];
  const std::string part = state_dir_ + "/checkpoints/job-" + std::to_string(job) + "/w" +
                           std::to_string(window) + "-a" +
                           std::to_string(status["checkpoint"]["attempt"].get<int>()) + "/part-1";
  {
    std::fstream file(part, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.good()) << part;
    file.seekg(200);
    char byte = 0;
    file.read(&byte, 1);
    byte ^= 0x20;
    file.seekp(200);
    file.write(&byte, 1);
  }
  NodeOfRank(status, 2)->Signal(SIGKILL);
  const auto done = WaitForState(job, "COMPLETED", 120s);
  ExpectSameAnswer(done, expected);
  ASSERT_EQ(done["restarts"].size(), 1u) << done.dump(2);
  EXPECT_LT(done["restarts"][0]["from_window"].get<uint64_t>(), window);
  EXPECT_TRUE(LogHas(*coordinator_, "checkpoint part checksum mismatch")) << Tail(*coordinator_);
  EXPECT_NE(HttpGet(metrics_url_).find("meshsim_coordinator_checkpoint_failures_total{reason=\"damaged\"} 1"),
            std::string::npos);
}

// A tmpfs of `size` mounted at `path` (with `options`), unmounted by the
// destructor. Tests that need one skip where mounting is not allowed.
class Tmpfs {
 public:
  Tmpfs(const std::string& path, const std::string& options) : path_(path) {
    fs::create_directories(path);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  bool Remount(unsigned long flags, const std::string& options) {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | flags, options.c_str()) == 0;
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

TEST_F(RecoveryTest, FullDiskFailsCheckpointsCleanlyAndTheJobGoesOn) {
  Tmpfs disk(state_dir_, "size=1m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  const Answer expected = Reference(kBigPhold);
  StartCoordinator();
  StartNodes(3);
  const uint64_t job = SubmitDetached(kBigPhold);
  const auto done = WaitForState(job, "COMPLETED", 180s);
  ExpectSameAnswer(done, expected);
  EXPECT_EQ(done["checkpoints_written"], 0);
  EXPECT_TRUE(LogHas(*coordinator_, "not stored")) << Tail(*coordinator_);
  const std::string metrics = HttpGet(metrics_url_);
  EXPECT_EQ(metrics.find("meshsim_coordinator_checkpoint_failures_total{reason=\"disk_full\"} 0"),
            std::string::npos)
      << metrics;
  bool node_logged = false;
  for (auto& node : nodes_) node_logged = node_logged || LogHas(*node, "not stored, the job goes on");
  EXPECT_TRUE(node_logged);
}

TEST_F(RecoveryTest, CoordinatorRefusesAStateDirectoryItCannotWrite) {
  Tmpfs disk(state_dir_, "size=1m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  ASSERT_TRUE(disk.Remount(MS_RDONLY, "size=1m"));
  auto result =
      RunMeshsim({"coordinator", "--bind", "tcp://127.0.0.1:0", "--state-dir", state_dir_}, tag_, 20s);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("state directory " + state_dir_ + " is not writable"), std::string::npos)
      << result.output;
}

TEST_F(RecoveryTest, SecondCoordinatorOnTheSameStateDirectoryIsRefused) {
  StartCoordinator();
  auto result =
      RunMeshsim({"coordinator", "--bind", "tcp://127.0.0.1:0", "--state-dir", state_dir_}, tag_, 20s);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("in use by another coordinator"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace meshsim::testing
