// A job outlives damage to its coordinator's storage: a coordinator killed
// while writing a checkpoint, a flipped byte in the newest checkpoint, a
// full or read-only disk (a small tmpfs), a state directory it cannot write
// or that another coordinator holds. The job must end with the result of a
// run that lost nothing, or the coordinator refuse to start with the reason.
#include "tests/integration/recovery_fixture.h"

namespace meshsim::testing::recovery {
namespace {

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
}  // namespace meshsim::testing::recovery
