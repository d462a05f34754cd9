// The recovery tests' harness (recovery_test.cc, recovery_storage_test.cc):
// a coordinator and node processes on a state directory of the test's own,
// the scenarios they run, and the answer a run must keep when it loses
// processes.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing::recovery {

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

inline Answer AnswerOf(const nlohmann::json& job) {
  return {job.value("committed_events", uint64_t{0}), job.value("digest", std::string()),
          job.value("summary", nlohmann::json()), job.value("series", nlohmann::json())};
}

inline void ExpectSameAnswer(const nlohmann::json& job, const Answer& expected) {
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
    std::vector<pid_t> pids;
    for (const auto& node : nodes_) pids.push_back(node->pid());
    StopNodes(nodes_);
    for (pid_t pid : pids) EXPECT_TRUE(SegmentsOf(pid).empty()) << "node " << pid << " left shared memory";
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

}  // namespace meshsim::testing::recovery
