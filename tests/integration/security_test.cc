// A cluster with CURVE keys (docs/security.md), driven through real
// processes and real sockets: who gets in, who may do what, and what a
// forged data frame achieves (nothing).
#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "common/frame/frame_codec.h"
#include "common/security/curve_keys.h"
#include "common/security/zap_handler.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster_test_base.h"
#include "zmq.hpp"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr char kTcpPhold[] = R"(
model: phold
transport: tcp
seed: 17
end_time: 400
lookahead: 0.1
params: { lps: 4096, remote_fraction: 0.2 }
)";

class SecurityTest : public ClusterTestBase {
 protected:
  void SetUp() override {
    keys_ = dir_.path() + "/keys";
    ASSERT_EQ(RunMeshsim({"keygen", keys_}, tag_, 20s).exit_code, 0);
  }

  void TearDown() override {
    StopNodes(nodes_);
    nodes_.clear();
    if (coordinator_) coordinator_->Stop(5s);
    ClusterTestBase::TearDown();
  }

  void StartCoordinator() {
    coordinator_ =
        StartMeshsim("coordinator",
                     {"--keys", keys_, "coordinator", "--bind", "tcp://127.0.0.1:0", "--state-dir",
                      dir_.path() + "/state", "--heartbeat-interval", "0.1", "--metrics-port", "auto"},
                     tag_);
    auto endpoint = coordinator_->WaitForStatus("rpc", Deadline::After(10s));
    ASSERT_TRUE(endpoint.ok()) << endpoint.status().message();
    endpoint_ = *endpoint;
    auto metrics = coordinator_->WaitForStatus("metrics", Deadline::After(10s));
    ASSERT_TRUE(metrics.ok());
    coordinator_metrics_ = *metrics;
  }

  // A node with `identity`'s key pair; returns its /metrics URL.
  std::string StartNode(const std::string& name, const std::string& identity = "node") {
    nodes_.push_back(StartMeshsim(name,
                                  {"--keys", keys_, "--identity", identity, "node", "--coordinator",
                                   endpoint_, "--name", name, "--metrics-port", "auto"},
                                  tag_));
    auto metrics = nodes_.back()->WaitForStatus("metrics", Deadline::After(10s));
    return metrics.ok() ? *metrics : "";
  }

  // `meshsim [--keys DIR] [--identity ID] ARGS --coordinator ENDPOINT`.
  CommandResult Cli(std::vector<std::string> args, const std::string& keys,
                    const std::string& identity = "") {
    std::vector<std::string> argv;
    if (!keys.empty()) argv = {"--keys", keys};
    if (!identity.empty()) argv.insert(argv.end(), {"--identity", identity});
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--coordinator", endpoint_});
    return RunMeshsim(argv, tag_, 60s);
  }

  size_t ReadyNodes() {
    auto result = Cli({"nodes", "--json"}, keys_, "viewer");
    if (result.exit_code != 0) return 0;
    size_t ready = 0;
    for (const auto& node : nlohmann::json::parse(result.output)) ready += node["state"] == "READY" ? 1 : 0;
    return ready;
  }

  // The value of `series` (name and labels exactly as exposed) at `url`.
  static double Metric(const std::string& url, std::string_view series) {
    std::istringstream body(HttpGet(url));
    for (std::string line; std::getline(body, line);) {
      if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
        return std::stod(line.substr(series.size() + 1));
      }
    }
    return 0;
  }

  // The data endpoint of the node called `name`, as the coordinator lists it.
  std::string DataEndpointOf(const std::string& name) {
    const auto nodes =
        nlohmann::json::parse(Cli({"nodes", "--json"}, keys_, "viewer").output, nullptr, false);
    if (!nodes.is_array()) return "";
    for (const auto& node : nodes) {
      if (node["name"] == name) return node["data_endpoint"];
    }
    return "";
  }

  // A PUSH socket connected to `endpoint`: plain without `identity`, else a
  // CURVE client with that identity's pair toward `server_key`.
  zmq::socket_t PushTo(zmq::context_t& context, const std::string& endpoint, const std::string& identity,
                       const std::string& server_key) {
    zmq::socket_t push(context, zmq::socket_type::push);
    push.set(zmq::sockopt::linger, 0);
    if (!identity.empty()) {
      const auto own = security::LoadCertificate(keys_ + "/" + identity + ".key_secret");
      EXPECT_TRUE(own.ok()) << own.status().message();
      if (own.ok()) security::MakeCurveClient(push, own->public_key, own->secret_key, server_key);
    }
    push.connect(endpoint);
    return push;
  }

  std::string keys_;
  std::string endpoint_;
  std::string coordinator_metrics_;
  std::unique_ptr<process::ChildProcess> coordinator_;
  std::vector<std::unique_ptr<process::ChildProcess>> nodes_;
};

TEST_F(SecurityTest, KeyedJobGivesTheDigestOfAnUnkeyedRun) {
  StartCoordinator();
  StartNode("n1");
  StartNode("n2");
  ASSERT_TRUE(WaitFor([&] { return ReadyNodes() == 2; }, 20s));
  const std::string scenario = dir_.Write("tcp.yaml", kTcpPhold);
  auto keyed = Cli({"submit", scenario, "--nodes", "2", "--json", dir_.path() + "/keyed.json"}, keys_);
  ASSERT_EQ(keyed.exit_code, 0) << keyed.output;
  auto local =
      RunMeshsim({"run", scenario, "--nodes", "1", "--json", dir_.path() + "/local.json"}, tag_, 60s);
  ASSERT_EQ(local.exit_code, 0) << local.output;
  const auto job = ReadJson(dir_.path() + "/keyed.json");
  EXPECT_EQ(job["digest"], ReadJson(dir_.path() + "/local.json")["digest"]);
  for (const auto& link : job["links"]) EXPECT_EQ(link["transport"], "tcp");
}

TEST_F(SecurityTest, ClientsWithoutAListedKeyAreRefusedWithTheReason) {
  StartCoordinator();
  // No keys at all.
  auto plain = Cli({"nodes"}, "");
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_NE(plain.output.find("requires CURVE keys"), std::string::npos) << plain.output;
  // Another cluster's keys: the wrong coordinator key.
  const std::string other = dir_.path() + "/other";
  ASSERT_EQ(RunMeshsim({"keygen", other}, tag_, 20s).exit_code, 0);
  auto wrong = Cli({"nodes"}, other);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.output.find("not authorized: the CURVE handshake"), std::string::npos) << wrong.output;
  // A pair of its own that no list has.
  const std::string mallory = dir_.path() + "/mallory";
  fs::create_directories(mallory);
  fs::copy_file(other + "/admin.key_secret", mallory + "/admin.key_secret");
  fs::copy_file(keys_ + "/coordinator.key", mallory + "/coordinator.key");
  auto unlisted = Cli({"nodes"}, mallory);
  EXPECT_EQ(unlisted.exit_code, 1);
  EXPECT_NE(unlisted.output.find("refused key 'admin'"), std::string::npos) << unlisted.output;
  EXPECT_GE(Metric(coordinator_metrics_, R"(meshsim_auth_refused_total{domain="rpc"})"), 1);

  // Revoked: listed, then its public key removed from the list.
  ASSERT_EQ(RunMeshsim({"keygen", keys_, "--name", "carol", "--role", "admin"}, tag_, 20s).exit_code, 0);
  EXPECT_EQ(Cli({"nodes"}, keys_, "carol").exit_code, 0);
  fs::remove(keys_ + "/admins/carol.key");
  auto revoked = Cli({"nodes"}, keys_, "carol");
  EXPECT_EQ(revoked.exit_code, 1);
  EXPECT_NE(revoked.output.find("not authorized"), std::string::npos) << revoked.output;
}

TEST_F(SecurityTest, AViewerReadsButCannotSubmitOrCancel) {
  StartCoordinator();
  const std::string scenario = dir_.Write("tcp.yaml", kTcpPhold);
  auto submit = Cli({"submit", scenario, "--nodes", "1", "--detach"}, keys_, "viewer");
  EXPECT_EQ(submit.exit_code, 1);
  EXPECT_NE(submit.output.find("not authorized: viewer key 'viewer' may not call Coordinator.SubmitJob"),
            std::string::npos)
      << submit.output;
  auto admin = Cli({"submit", scenario, "--nodes", "1", "--detach"}, keys_, "admin");
  ASSERT_EQ(admin.exit_code, 0) << admin.output;
  auto cancel = Cli({"cancel", "1"}, keys_, "viewer");
  EXPECT_EQ(cancel.exit_code, 1);
  EXPECT_NE(cancel.output.find("may not call Coordinator.CancelJob"), std::string::npos) << cancel.output;
  EXPECT_EQ(Cli({"status", "1"}, keys_, "viewer").exit_code, 0);
  EXPECT_EQ(Cli({"cancel", "1"}, keys_, "admin").exit_code, 0);
}

TEST_F(SecurityTest, WorldReadableSecretKeysAndOpenBindsAreRefused) {
  chmod((keys_ + "/admin.key_secret").c_str(), 0644);
  auto loose = RunMeshsim({"--keys", keys_, "nodes", "--coordinator", "tcp://127.0.0.1:1"}, tag_, 20s);
  EXPECT_EQ(loose.exit_code, 1);
  EXPECT_NE(loose.output.find("permissions 0644 are too open"), std::string::npos) << loose.output;

  auto open = RunMeshsim(
      {"coordinator", "--bind", "tcp://0.0.0.0:0", "--state-dir", dir_.path() + "/open-state"}, tag_, 20s);
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_NE(open.output.find("without keys"), std::string::npos) << open.output;
  EXPECT_NE(open.output.find("--insecure"), std::string::npos) << open.output;
}

TEST_F(SecurityTest, ANodeWithoutANodeKeyCannotJoin) {
  StartCoordinator();
  StartNode("impostor", "admin");  // a listed key, but not a node's
  StartNode("honest");
  ASSERT_TRUE(WaitFor([&] { return ReadyNodes() == 1; }, 20s));
  auto nodes = nlohmann::json::parse(Cli({"nodes", "--json"}, keys_, "viewer").output);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0]["name"], "honest");
  bool said = false;
  for (const auto& line : coordinator_->Tail()) {
    said |= line.find("may not call Coordinator.RegisterNode") != std::string::npos;
  }
  EXPECT_TRUE(said) << "the coordinator logs the refused registration";
}

// The attack the keys are for: during a job, a well-formed frame that
// claims the job, the window and a peer's rank. Without keys it would be
// taken; with them it never gets past the handshake, whoever sends it.
TEST_F(SecurityTest, ForgedDataFramesFromOutsideTheJobAreRefusedAndTheDigestHolds) {
  StartCoordinator();
  const std::string metrics = StartNode("n1");
  StartNode("n2");
  ASSERT_TRUE(WaitFor([&] { return ReadyNodes() == 2; }, 20s));
  ASSERT_EQ(RunMeshsim({"keygen", keys_, "--name", "intruder", "--role", "node"}, tag_, 20s).exit_code, 0);
  const std::string scenario = dir_.Write("tcp.yaml", kTcpPhold);
  ASSERT_EQ(Cli({"submit", scenario, "--nodes", "2", "--json", dir_.path() + "/clean.json"}, keys_).exit_code,
            0);
  const auto clean = ReadJson(dir_.path() + "/clean.json");

  const std::string data = DataEndpointOf("n1");
  ASSERT_FALSE(data.empty());
  const std::string n1_key = security::LoadCertificate(keys_ + "/node.key")->public_key;
  auto submit = StartMeshsim("submit",
                             {"--keys", keys_, "submit", scenario, "--coordinator", endpoint_, "--nodes", "2",
                              "--json", dir_.path() + "/hit.json"},
                             tag_);
  const uint64_t job = clean["job_id"].get<uint64_t>() + 1;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Cli({"status", std::to_string(job)}, keys_).output.find("RUNNING") != std::string::npos;
      },
      20s));
  // Senders: no CURVE at all, an admin key, a node key that is not the job's.
  zmq::context_t context;
  std::vector<zmq::socket_t> sockets;
  for (const std::string identity : {"", "admin", "intruder"})
    sockets.push_back(PushTo(context, data, identity, n1_key));
  frame::FrameWriter writer;
  for (uint64_t window = 1; window < 40 && submit->running(); ++window) {
    writer.Begin(frame::RunId(job, 1), window, /*source_rank=*/1);
    writer.Append({static_cast<double>(window) * 0.1 + 0.05, 0, 0, 0, {}});
    const auto bytes = writer.Finish(1e9);
    for (auto& socket : sockets)
      (void)socket.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait);
    std::this_thread::sleep_for(20ms);  // pacing: one forged window every 20 ms while the job runs
  }
  auto status = submit->Wait(Deadline::After(120s));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  const auto hit = ReadJson(dir_.path() + "/hit.json");
  EXPECT_EQ(hit["digest"], clean["digest"]);
  EXPECT_EQ(hit["committed_events"], clean["committed_events"]);
  // The two CURVE senders were refused by the node's ZAP handler and counted.
  EXPECT_GE(Metric(metrics, R"(meshsim_auth_refused_total{domain="data"})"), 2);
  bool said = false;
  for (const auto& line : nodes_[0]->Tail()) {
    said |= line.find("node key 'intruder' is not a peer of this node's job") != std::string::npos;
  }
  EXPECT_TRUE(said) << "the node logs whom it refused";
}

// A job's peers are let in for that job only: once it has ended, the same
// key is refused at the handshake instead of reaching the idle node.
TEST_F(SecurityTest, AFinishedJobsPeerKeyIsRefusedAfterwards) {
  StartCoordinator();
  const std::string metrics = StartNode("n1");
  StartNode("n2");
  ASSERT_TRUE(WaitFor([&] { return ReadyNodes() == 2; }, 20s));
  const std::string scenario = dir_.Write("tcp.yaml", kTcpPhold);
  ASSERT_EQ(Cli({"submit", scenario, "--nodes", "2"}, keys_).exit_code, 0);

  const std::string data = DataEndpointOf("n1");
  ASSERT_FALSE(data.empty());
  const double refused_before = Metric(metrics, R"(meshsim_auth_refused_total{domain="data"})");
  // The node key n2 used for the job (every node here has the same pair).
  const auto peer = security::LoadCertificate(keys_ + "/node.key");
  ASSERT_TRUE(peer.ok()) << peer.status().message();
  zmq::context_t context;
  zmq::socket_t push = PushTo(context, data, "node", peer->public_key);
  const std::byte stray[8] = {};
  (void)push.send(zmq::buffer(stray, sizeof(stray)), zmq::send_flags::dontwait);
  EXPECT_TRUE(WaitFor(
      [&] { return Metric(metrics, R"(meshsim_auth_refused_total{domain="data"})") > refused_before; }, 20s))
      << "the finished job's peer key still got in";
  EXPECT_EQ(Metric(metrics, "meshsim_node_frames_dropped_total"), 0) << "a frame reached the idle node";
}

}  // namespace
}  // namespace meshsim::testing
