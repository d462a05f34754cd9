// `meshsim host`: several nodes as supervised children of one process, the
// arrangement that keeps shared memory between the nodes of one container or
// pod under an orchestrator. Real processes, a real coordinator.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/testing/cluster_test_base.h"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;

class NodeHostTest : public ClusterTestBase {
 protected:
  // Starts the coordinator (no nodes of its own) and a host of `nodes`.
  void StartHost(int nodes) {
    cluster_ = std::make_unique<Cluster>(0, tag_);
    host_ = StartMeshsim("host",
                         {"host", "--coordinator", cluster_->endpoint(), "--nodes", std::to_string(nodes),
                          "--name-prefix", "rack7", "--metrics-port", "auto"},
                         tag_);
    auto url = host_->WaitForStatus("metrics", Deadline::After(10s));
    ASSERT_TRUE(url.ok()) << url.status().message();
    metrics_url_ = *url;
    ASSERT_TRUE(WaitFor([&] { return ReadyNodeNames().size() == static_cast<size_t>(nodes); }, 20s));
  }

  std::vector<std::string> ReadyNodeNames() const {
    std::vector<std::string> names;
    for (const auto& node : cluster_->ListNodes()) {
      if (node["state"] == "READY") names.push_back(node["name"]);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // The pid of the host's child that serves node `name`.
  pid_t PidOfNode(const std::string& name) const {
    for (pid_t pid : TaggedProcesses(tag_)) {
      std::ifstream file("/proc/" + std::to_string(pid) + "/cmdline");
      std::stringstream content;
      content << file.rdbuf();
      std::string cmdline = content.str();
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline.find(" node ") != std::string::npos &&
          cmdline.find("--name " + name + " ") != std::string::npos) {
        return pid;
      }
    }
    return 0;
  }

  double HostMetric(const std::string& name) const {
    const std::string body = HttpGet(metrics_url_);
    std::smatch match;
    if (!std::regex_search(body, match, std::regex("\n" + name + " ([0-9.e+]+)"))) return -1;
    return std::stod(match[1]);
  }

  // Runs scenarios/phold.yaml on `nodes` nodes; every link must use
  // `transport` and the digest must be a local one-node run's.
  void ExpectPholdOverLinks(int nodes, const std::string& transport) {
    const std::string out = dir_.path() + "/job.json";
    auto result = cluster_->Submit(SourcePath("scenarios/phold.yaml"), nodes, out);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const auto job = ReadJson(out);
    ASSERT_EQ(job["state"], "COMPLETED");
    ASSERT_EQ(job["links"].size(), static_cast<size_t>(nodes * (nodes - 1)));
    for (const auto& link : job["links"]) EXPECT_EQ(link["transport"], transport) << link.dump();

    const std::string local_out = dir_.path() + "/local.json";
    auto local = RunMeshsim({"run", SourcePath("scenarios/phold.yaml"), "--nodes", "1", "--json", local_out},
                            tag_, 120s);
    ASSERT_EQ(local.exit_code, 0) << local.output;
    EXPECT_EQ(job["digest"], ReadJson(local_out)["digest"]);
  }

  void TearDown() override {
    if (host_) host_->Stop(10s);
    ClusterTestBase::TearDown();
  }

  std::unique_ptr<process::ChildProcess> host_;
  std::string metrics_url_;
};

TEST_F(NodeHostTest, NodesOfOneHostTalkThroughSharedMemoryAndGiveTheLocalDigest) {
  StartHost(3);
  EXPECT_EQ(ReadyNodeNames(), (std::vector<std::string>{"rack7-1", "rack7-2", "rack7-3"}));
  EXPECT_EQ(HostMetric("meshsim_host_nodes_running"), 3);

  ExpectPholdOverLinks(3, "shm");
}

TEST_F(NodeHostTest, AKilledNodeIsStartedAgainAndServesTheNextJob) {
  StartHost(2);
  const pid_t victim = PidOfNode("rack7-2");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(kill(victim, SIGKILL), 0);

  // The host notices, starts rack7-2 again, and the new process registers.
  ASSERT_TRUE(WaitFor([&] { return PidOfNode("rack7-2") > 0 && PidOfNode("rack7-2") != victim; }, 10s));
  ASSERT_TRUE(WaitFor([&] { return HostMetric("meshsim_host_node_restarts_total") == 1; }, 10s));
  ASSERT_TRUE(WaitFor(
      [&] {
        int ready = 0;
        for (const auto& node : cluster_->ListNodes()) ready += node["state"] == "READY" ? 1 : 0;
        return ready == 2;
      },
      20s));
  bool logged = false;
  for (const auto& line : host_->Tail())
    logged |= line.find("node rack7-2 (pid " + std::to_string(victim) + ") killed by signal 9") !=
              std::string::npos;
  EXPECT_TRUE(logged) << "the host says which node died and how";

  const std::string out = dir_.path() + "/next.json";
  auto next = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 2, out);
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_EQ(ReadJson(out)["state"], "COMPLETED");
}

TEST_F(NodeHostTest, SigtermStopsEveryNodeWhichLeavesTheCoordinator) {
  StartHost(3);
  const pid_t host_pid = host_->pid();
  host_->Signal(SIGTERM);
  EXPECT_EQ(host_->Wait(Deadline::After(20s)), 0) << "the host exits cleanly";
  // Each node said goodbye: the coordinator forgets them at once, without
  // waiting for a heartbeat timeout.
  EXPECT_TRUE(WaitFor([&] { return cluster_->ListNodes().empty(); }, 5s)) << cluster_->ListNodes().dump();
  for (pid_t pid : TaggedProcesses(tag_)) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string ignored_pid, ignored_comm, state, parent;
    stat >> ignored_pid >> ignored_comm >> state >> parent;
    EXPECT_NE(parent, std::to_string(host_pid)) << "a node of the host outlived it";
  }
}

// A deployment that gives /dev/shm too little room (Docker's default is
// 64 MiB) must not break a job: the nodes see each other but fall back to
// tcp, and say why. The host runs in a mount namespace of its own with a
// 2 MiB tmpfs on /dev/shm: room for the probes, not for the rings.
TEST_F(NodeHostTest, TooSmallDevShmFallsBackToTcpAndSaysSo) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a small /dev/shm needs root";
  cluster_ = std::make_unique<Cluster>(0, tag_);
  const std::string script = "mount -t tmpfs -o size=2m,mode=1777 tmpfs /dev/shm && exec \"$0\" \"$@\"";
  auto host =
      process::ChildProcess::Spawn({.name = "host",
                                    .argv = {"/usr/bin/unshare", "--mount", "--propagation", "private", "sh",
                                             "-c", script, MeshsimBinary(), "host", "--coordinator",
                                             cluster_->endpoint(), "--nodes", "3", "--name-prefix", "small"},
                                    .extra_env = {"MESHSIM_TEST_TAG=" + tag_},
                                    .tail_lines = 100000});
  ASSERT_TRUE(host.ok()) << host.status().message();
  host_ = std::move(*host);
  ASSERT_TRUE(WaitFor([&] { return ReadyNodeNames().size() == 3; }, 20s))
      << ::testing::PrintToString(host_->Tail());

  ExpectPholdOverLinks(3, "tcp");
  bool said = false;
  for (const auto& line : host_->Tail()) said |= line.find("/dev/shm has 1 MiB free") != std::string::npos;
  EXPECT_TRUE(said) << "the nodes say why they use tcp";
}

TEST_F(NodeHostTest, BadNodeCountIsRefusedWithTheFlagNamed) {
  auto result = RunMeshsim({"host", "--nodes", "0", "--coordinator", "tcp://127.0.0.1:1"}, tag_, 10s);
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("--nodes"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace meshsim::testing
