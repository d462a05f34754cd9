// A coordinator and nodes started as separate processes, driven with the
// meshsim command as a user would: submit, status, nodes, cancel; and a node
// killed in the middle of a job.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/cluster_test_base.h"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;

// Long enough to still be running when the test acts on it.
constexpr char kLongScenario[] = R"(
name: long-phold
model: phold
seed: 5
end_time: 1000000
lookahead: 0.1
nodes: 3
params:
  lps: 2048
  remote_fraction: 0.2
)";

class ClusterTest : public ClusterTestBase {
 protected:
  nlohmann::json NodeNamed(const std::string& name) {
    for (const auto& node : cluster_->ListNodes()) {
      if (node["name"] == name) return node;
    }
    ADD_FAILURE() << "no node named " << name;
    return {};
  }
};

TEST_F(ClusterTest, SubmitToSeparateProcessesPrintsTheResultAndNodesListsThem) {
  cluster_ = std::make_unique<Cluster>(3, tag_);
  const auto nodes = cluster_->ListNodes();
  ASSERT_EQ(nodes.size(), 3u);
  for (const auto& node : nodes) {
    EXPECT_EQ(node["state"], "READY");
    EXPECT_TRUE(node["name"].get<std::string>().starts_with("node-"));
  }
  const std::string out = dir_.path() + "/result.json";
  auto result = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 3, out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = ReadJson(out);
  EXPECT_EQ(json["state"], "COMPLETED");
  EXPECT_EQ(json["nodes"].size(), 3u);
  EXPECT_EQ(json["links"].size(), 6u);

  // The printed table, for a person.
  auto table = RunMeshsim(
      {"status", std::to_string(json["job_id"].get<uint64_t>()), "--coordinator", cluster_->endpoint()}, tag_,
      20s);
  EXPECT_NE(table.output.find("COMPLETED"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("committed events"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find(json["digest"].get<std::string>()), std::string::npos) << table.output;
}

// Restarts after lost nodes are tests/integration/recovery_test.cc's; these
// jobs allow none, so a lost node ends them.
const std::string kNoRestarts = std::string(kLongScenario) + "max_restarts: 0\n";

// Admission by memory: nodes say at registration how much they may use;
// a job whose estimate per node exceeds it is refused at submit, saying how
// much it needs and on how many such nodes it would fit. One that fits runs.
TEST_F(ClusterTest, ASubmissionThatCannotFitItsNodesIsRefusedWithTheNeededSize) {
  cluster_ = std::make_unique<Cluster>(
      2, tag_, 1.0,
      std::vector<std::vector<std::string>>{{"--memory-limit", "256M"}, {"--memory-limit", "256M"}});
  for (const auto& node : cluster_->ListNodes()) {
    EXPECT_EQ(node["memory_bytes"], 256u << 20);
    EXPECT_EQ(node["memory_source"], "--memory-limit");
  }
  auto scenario = [&](uint64_t lps) {
    return dir_.Write("memory-" + std::to_string(lps) + ".yaml",
                      "model: phold\nseed: 4\nend_time: 2\nlookahead: 0.5\ncheckpoint: off\n"
                      "params: {lps: " +
                          std::to_string(lps) + ", start_events: 2, payload_bytes: 0}\n");
  };
  // 10^7 LPs with 2 events each: about 240 MB of LP arrays and 400 MB of
  // events per node on 2, some 6 nodes' worth of 256 MiB.
  const auto refused = cluster_->Submit(scenario(10'000'000), 2);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("job not accepted: on 2 nodes it needs about "), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("the nodes it would get may use 256.00 MiB each; it would fit on "),
            std::string::npos)
      << refused.output;
  // Nothing was queued: the next job is job 1 and runs.
  const auto fits = cluster_->Submit(scenario(100'000), 2, dir_.path() + "/fits.json");
  ASSERT_EQ(fits.exit_code, 0) << fits.output;
  const auto json = ReadJson(dir_.path() + "/fits.json");
  EXPECT_EQ(json["state"], "COMPLETED");
  EXPECT_EQ(json["job_id"], 1u);
}

TEST_F(ClusterTest, KilledNodeFailsAJobWithoutRestartsAndTheNextJobRunsOnTheSurvivors) {
  const double node_timeout = 1.0;
  cluster_ = std::make_unique<Cluster>(3, tag_, node_timeout);
  const auto victim = NodeNamed("node-2");
  const uint64_t job = cluster_->SubmitDetached(dir_.Write("long.yaml", kNoRestarts), 3);
  ASSERT_TRUE(cluster_->WaitUntilRunning(job)) << Status(job).dump();

  cluster_->node(1).Signal(SIGKILL);
  const auto killed_at = SteadyClock::now();
  ASSERT_TRUE(WaitFor([&] { return Status(job)["state"] == "FAILED"; }, 15s));
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - killed_at).count();
  // Within the heartbeat timeout, plus the time `meshsim status` takes to ask.
  EXPECT_LT(seconds, node_timeout + 3.0);
  const std::string reason = Status(job)["reason"];
  EXPECT_NE(reason.find("node " + std::to_string(victim["id"].get<int>()) + " (node-2) lost"),
            std::string::npos)
      << reason;
  EXPECT_EQ(NodeNamed("node-2")["state"], "LOST");

  // The coordinator keeps serving, and the survivors take the next job.
  const std::string out = dir_.path() + "/next.json";
  auto next = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 2, out);
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_EQ(ReadJson(out)["state"], "COMPLETED");
}

TEST_F(ClusterTest, NodeStoppedBySigtermLeavesAndItsJobFailsWithThatReason) {
  // A long node timeout: the job must fail because the node said goodbye,
  // not because its heartbeats stopped.
  cluster_ = std::make_unique<Cluster>(3, tag_, /*node_timeout_seconds=*/30.0);
  const auto leaving = NodeNamed("node-3");
  const uint64_t job = cluster_->SubmitDetached(dir_.Write("long.yaml", kNoRestarts), 3);
  ASSERT_TRUE(cluster_->WaitUntilRunning(job)) << Status(job).dump();

  cluster_->node(2).Signal(SIGTERM);
  EXPECT_EQ(cluster_->node(2).Wait(Deadline::After(10s)), 0) << "the node should exit cleanly";
  ASSERT_TRUE(WaitFor([&] { return Status(job)["state"] == "FAILED"; }, 10s)) << Status(job).dump();
  const std::string reason = Status(job)["reason"];
  EXPECT_NE(reason.find("node " + std::to_string(leaving["id"].get<int>()) +
                        " (node-3) left: shutting down on SIGTERM"),
            std::string::npos)
      << reason;
  for (const auto& node : cluster_->ListNodes())
    EXPECT_NE(node["name"], "node-3") << "a node that left is forgotten";

  // The others let the job go at once and take the next one.
  const std::string out = dir_.path() + "/next.json";
  auto next = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 2, out);
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_EQ(ReadJson(out)["state"], "COMPLETED");
}

TEST_F(ClusterTest, CoordinatorStoppedBySigtermLeavesItsJobRunningOnTheNodes) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const uint64_t job = cluster_->SubmitDetached(dir_.Write("long.yaml", kLongScenario), 2);
  ASSERT_TRUE(cluster_->WaitUntilRunning(job)) << Status(job).dump();
  cluster_->coordinator().Signal(SIGTERM);
  EXPECT_EQ(cluster_->coordinator().Wait(Deadline::After(10s)), 0);
  auto logged = [&](process::ChildProcess& process, const std::string& text) {
    for (const auto& line : process.Tail()) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(logged(cluster_->coordinator(), "1 unfinished jobs stay in"));
  // The job is durable: the nodes carry on (a coordinator started again on
  // the state directory collects it; recovery_test.cc) and say so.
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(WaitFor([&] { return logged(cluster_->node(i), "goes on, its report waits for it"); }, 20s))
        << "node " << i;
    EXPECT_FALSE(logged(cluster_->node(i), "aborted")) << "node " << i;
  }
}

TEST_F(ClusterTest, CancelStopsARunningJobAndFreesItsNodes) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const uint64_t job = cluster_->SubmitDetached(dir_.Write("long.yaml", kLongScenario), 2);
  ASSERT_TRUE(cluster_->WaitUntilRunning(job)) << Status(job).dump();
  auto cancel = RunMeshsim({"cancel", std::to_string(job), "--coordinator", cluster_->endpoint()}, tag_, 20s);
  EXPECT_EQ(cancel.exit_code, 0) << cancel.output;
  EXPECT_EQ(Status(job)["state"], "CANCELLED");
  EXPECT_TRUE(WaitFor(
      [&] {
        const auto nodes = cluster_->ListNodes();
        return std::all_of(nodes.begin(), nodes.end(), [](const auto& n) { return n["state"] == "READY"; });
      },
      10s));
  auto next = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 2);
  EXPECT_EQ(next.exit_code, 0) << next.output;
}

// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
double CpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

TEST_F(ClusterTest, IdleNodesUseNoCpu) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  // One job first, so the shm links have existed and been torn down.
  ASSERT_EQ(cluster_->Submit(SourcePath("scenarios/phold.yaml"), 2).exit_code, 0);
  const double before = CpuSeconds(cluster_->node(0).pid()) + CpuSeconds(cluster_->node(1).pid());
  const auto window = 2s;
  std::this_thread::sleep_for(window);  // measuring an interval, not waiting for an event
  const double used = CpuSeconds(cluster_->node(0).pid()) + CpuSeconds(cluster_->node(1).pid()) - before;
  // Heartbeats and polls cost about 1% of a core between them (0.02-0.03
  // CPU seconds here); a thread that spins or polls hot would use the whole
  // window. The bound sits far from both, so a noisy shared machine does
  // not fail it and a spinning node always does.
  EXPECT_LT(used, 0.5) << used << " CPU seconds in " << window.count() << " s while idle";
}

TEST_F(ClusterTest, JobWaitsInTheQueueUntilEnoughNodesAreReady) {
  cluster_ = std::make_unique<Cluster>(1, tag_);
  const uint64_t job = cluster_->SubmitDetached(SourcePath("scenarios/phold.yaml"), 2);
  ASSERT_TRUE(WaitFor([&] { return !Status(job)["reason"].get<std::string>().empty(); }, 10s));
  const auto status = Status(job);
  EXPECT_EQ(status["state"], "QUEUED");
  EXPECT_NE(status["reason"].get<std::string>().find("waiting for 2 ready nodes (1 ready)"),
            std::string::npos)
      << status.dump();
}

}  // namespace
}  // namespace meshsim::testing
