// Bad input from a user or the network: a clear error or a counted drop,
// and every process keeps serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/frame/frame_codec.h"
#include "common/rpc/rpc_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/meshsim.pb.h"
#include "proto/rpc.pb.h"
#include "tests/testing/cluster_test_base.h"
#include "zmq.hpp"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;

void SendRawTcp(const std::string& endpoint, const std::string& bytes) {
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0) << endpoint;
  (void)!write(fd, bytes.data(), bytes.size());
  close(fd);
}

// ZeroMQ PUSH to a node's data endpoint, as a (misbehaving) peer would.
void PushFrames(const std::string& endpoint, const std::vector<std::vector<std::byte>>& frames) {
  zmq::context_t context;
  zmq::socket_t push(context, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 2000);
  push.connect(endpoint);
  for (const auto& frame : frames) push.send(zmq::buffer(frame.data(), frame.size()));
}

std::vector<std::byte> Frame(uint64_t job, uint64_t window, uint32_t rank, uint32_t dst_lp) {
  frame::FrameWriter writer;
  writer.Begin(job, window, rank);
  writer.Append({1e9, dst_lp, 0, 0, {}});
  const auto bytes = writer.Finish(1e9);
  return {bytes.begin(), bytes.end()};
}

std::vector<std::byte> Garbage(const std::string& text) {
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

class BadInputTest : public ClusterTestBase {
 protected:
};

TEST_F(BadInputTest, MalformedScenariosAreRejectedWithTheFieldNamed) {
  const struct {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"model: phold\nend_time: 10\nlookahead: 0.1\nspeed: 3\n", "speed: unknown key"},
      {"model: phold\nend_time: ten\nlookahead: 0.1\n", "end_time: expected a number, got 'ten'"},
      {"model: phold\nend_time: 10\nlookahead: -1\n", "lookahead: must be > 0"},
      {"model: phold\nend_time: 10\nlookahead: 0.1\nparams:\n  lps: 0\n", "params.lps: must be between 1"},
      {"model: phold\nend_time: 10\nlookahead: 0.1\nparams:\n  remote_fraction: yes\n",
       "params.remote_fraction: expected a number"},
      {"model: warp\nend_time: 10\nlookahead: 0.1\n", "model: unknown model 'warp'"},
      {"end_time: 10\nlookahead: 0.1\n", "model: is required"},
      {"model: phold\nend_time: 10\nlookahead: 0.1\nnodes: 2\nparams:\n  lps: 1\n",
       "nodes: 2 nodes for only 1 LPs"},
      {"model: [phold\n", "not valid YAML"},
      {"model: phold\nend_time: 10\nlookahead: 0.1\nsync: eager\n",
       "sync: expected one of conservative, optimistic, auto, got 'eager'"},
      {"model: phold\nend_time: 10\nlookahead: 0.1\nsync: optimistic\noptimism: { time_window: -2 }\n",
       "optimism.time_window: must be a finite number >= 0"},
  };
  for (const auto& c : cases) {
    const std::string path = dir_.Write("bad.yaml", c.yaml);
    auto validate = RunMeshsim({"validate", path}, tag_, 20s);
    EXPECT_EQ(validate.exit_code, 2) << c.yaml;
    EXPECT_NE(validate.output.find(c.expected), std::string::npos) << "for:\n"
                                                                   << c.yaml << "got:\n"
                                                                   << validate.output;
    // `run` refuses before starting any process.
    auto run = RunMeshsim({"run", path}, tag_, 20s);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(c.expected), std::string::npos) << run.output;
  }
  EXPECT_EQ(RunMeshsim({"validate", dir_.path() + "/missing.yaml"}, tag_, 20s).exit_code, 2);
  EXPECT_EQ(RunMeshsim({"run", SourcePath("scenarios/phold.yaml"), "--nodes", "0"}, tag_, 20s).exit_code, 2);
  EXPECT_EQ(RunMeshsim({"frobnicate"}, tag_, 20s).exit_code, 2);
  auto bad_flag = RunMeshsim({"validate", SourcePath("scenarios/phold.yaml"), "--sync", "eager"}, tag_, 20s);
  EXPECT_EQ(bad_flag.exit_code, 2) << bad_flag.output;
  EXPECT_NE(bad_flag.output.find("--sync"), std::string::npos) << bad_flag.output;
}

// A flood of submissions cannot grow the coordinator without bound: past
// --max-jobs unfinished jobs, SubmitJob is refused with the limit named.
TEST_F(BadInputTest, SubmissionsBeyondTheUnfinishedJobLimitAreRefused) {
  auto coordinator = StartMeshsim("coordinator",
                                  {"coordinator", "--bind", "tcp://127.0.0.1:0", "--state-dir",
                                   dir_.path() + "/state", "--max-jobs", "2"},
                                  tag_);
  auto endpoint = coordinator->WaitForStatus("rpc", Deadline::After(10s));
  ASSERT_TRUE(endpoint.ok()) << endpoint.status().message();
  const std::string scenario = SourcePath("scenarios/phold.yaml");
  for (int i = 0; i < 2; ++i) {
    auto queued = RunMeshsim({"submit", scenario, "--detach", "--coordinator", *endpoint}, tag_, 20s);
    EXPECT_EQ(queued.exit_code, 0) << queued.output;  // no nodes: they wait in the queue
  }
  auto refused = RunMeshsim({"submit", scenario, "--detach", "--coordinator", *endpoint}, tag_, 20s);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("job not accepted: 2 jobs are waiting or running"), std::string::npos)
      << refused.output;
  coordinator->Stop(5s);
}

// Every input read has a size limit: an endless file or a huge one is
// refused with the limit named, not read into memory.
TEST_F(BadInputTest, EndlessOrHugeScenarioFilesAreRefusedBySize) {
  auto endless = RunMeshsim({"validate", "/dev/zero"}, tag_, 20s);
  EXPECT_EQ(endless.exit_code, 2) << endless.output;
  EXPECT_NE(endless.output.find("/dev/zero: larger than 1024 KiB"), std::string::npos) << endless.output;

  std::string huge = "model: phold\nend_time: 10\nlookahead: 0.1\n";
  while (huge.size() <= (1u << 20)) huge += "# padding padding padding padding padding padding padding\n";
  auto result = RunMeshsim({"validate", dir_.Write("huge.yaml", huge)}, tag_, 20s);
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("larger than 1024 KiB"), std::string::npos) << result.output;
}

TEST_F(BadInputTest, GarbageToTheCoordinatorRpcPortGetsAnErrorAndServiceContinues) {
  cluster_ = std::make_unique<Cluster>(1, tag_);
  SendRawTcp(cluster_->endpoint(), std::string(65536, '\x7f'));
  SendRawTcp(cluster_->endpoint(), "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x00NULL");

  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(cluster_->endpoint());
  dealer.send(zmq::str_buffer("\x0a\xff\xff\xff garbage envelope"));
  zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, 5000ms);
  ASSERT_TRUE(item.revents & ZMQ_POLLIN) << "no error reply to a garbage request";
  zmq::message_t reply_bytes;
  ASSERT_TRUE(dealer.recv(reply_bytes));
  rpc::RpcReply reply;
  ASSERT_TRUE(reply.ParseFromArray(reply_bytes.data(), static_cast<int>(reply_bytes.size())));
  EXPECT_EQ(reply.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));

  auto run = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 1);
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

// Requests to a node's RPC port that name no job it holds, as a stranger on
// a keyless cluster could send them (fuzz/node_rpc_fuzz found StartJob for
// job 0 crashing an idle node): refused, and the node serves the next job.
TEST_F(BadInputTest, NodeRequestsNamingNoJobAreRefusedAndTheNodeServesOn) {
  cluster_ = std::make_unique<Cluster>(1, tag_);
  const auto nodes = cluster_->ListNodes();
  ASSERT_EQ(nodes.size(), 1u);
  zmq::context_t context;
  auto client = rpc::RpcClient::Create(context, {.endpoint = nodes[0]["rpc_endpoint"]});
  ASSERT_TRUE(client.ok()) << client.status();

  v1::StartJobReply started;
  EXPECT_TRUE(absl::IsNotFound((*client)->Call("Node.StartJob", v1::StartJobRequest(), &started)));
  v1::StartJobRequest unknown_job;
  unknown_job.set_job_id(42);
  EXPECT_TRUE(absl::IsNotFound((*client)->Call("Node.StartJob", unknown_job, &started)));
  v1::PrepareJobReply prepared;
  EXPECT_TRUE(
      absl::IsInvalidArgument((*client)->Call("Node.PrepareJob", v1::PrepareJobRequest(), &prepared)));
  v1::PrepareJobRequest too_many_peers;
  too_many_peers.set_job_id(42);
  for (int i = 0; i < 300; ++i) too_many_peers.add_peers()->set_rank(static_cast<uint32_t>(i));
  const absl::Status refused = (*client)->Call("Node.PrepareJob", too_many_peers, &prepared);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("300 peers"));
  v1::AbortJobReply aborted;
  EXPECT_TRUE((*client)->Call("Node.AbortJob", v1::AbortJobRequest(), &aborted).ok());

  auto run = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 1);
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST_F(BadInputTest, GarbageToAnIdleNodesDataPortIsCountedAndDropped) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const auto nodes = cluster_->ListNodes();
  ASSERT_EQ(nodes.size(), 2u);
  const std::string data = nodes[0]["data_endpoint"];
  const uint64_t node_id = nodes[0]["id"];
  auto truncated = Frame(1, 0, 1, 0);
  truncated.resize(truncated.size() - 5);
  PushFrames(data, {Garbage("not a frame at all"), truncated, Frame(999, 0, 1, 0)});
  SendRawTcp(data, std::string(4096, '\xee'));

  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& node : cluster_->ListNodes()) {
          if (node["id"] == node_id && node["frames_dropped"].get<uint64_t>() >= 3) return true;
        }
        return false;
      },
      10s))
      << cluster_->ListNodes().dump();

  auto run = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 2);
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST_F(BadInputTest, BadFramesDuringAJobAreDroppedAndTheResultIsUnchanged) {
  // A job slow enough to be hit while it runs, on the TCP data plane (the
  // port under attack).
  const std::string scenario = dir_.Write("job.yaml", R"(
model: phold
transport: tcp
seed: 11
end_time: 800
lookahead: 0.1
params:
  lps: 8192
  remote_fraction: 0.2
)");
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const std::string clean_out = dir_.path() + "/clean.json";
  ASSERT_EQ(cluster_->Submit(scenario, 2, clean_out).exit_code, 0);
  const auto clean = ReadJson(clean_out);
  const uint64_t next_job = clean["job_id"].get<uint64_t>() + 1;

  const auto nodes = cluster_->ListNodes();
  const std::string data = nodes[0]["data_endpoint"];
  const std::string hit_out = dir_.path() + "/hit.json";
  auto submit = StartMeshsim(
      "submit",
      {"submit", scenario, "--coordinator", cluster_->endpoint(), "--nodes", "2", "--json", hit_out}, tag_);
  // Frames of the running job that break the protocol: a window far ahead,
  // a rank that is the receiver itself, an LP the node does not own, a
  // corrupt body, and a truncation.
  auto corrupt = Frame(next_job, 1, 1, 0);
  corrupt[frame::kHeaderBytes + frame::offset::kEventPayloadBytes] = std::byte{0xff};
  auto truncated = Frame(next_job, 1, 1, 0);
  truncated.resize(truncated.size() - 1);
  const uint32_t rank_of_node0 = 0;  // the first listed node is the first READY node, rank 0
  const std::vector<std::vector<std::byte>> bad = {Frame(next_job, 1000000, 1, 0),
                                                   Frame(next_job, 1, rank_of_node0, 0),
                                                   Frame(next_job, 1, 1, 8191), corrupt, truncated};
  ASSERT_TRUE(WaitFor(
      [&] {
        auto status = RunMeshsim(
            {"status", std::to_string(next_job), "--coordinator", cluster_->endpoint(), "--json"}, tag_, 20s);
        return status.output.find("\"RUNNING\"") != std::string::npos;
      },
      20s));
  for (int round = 0; round < 5 && submit->running(); ++round) {
    PushFrames(data, bad);
    std::this_thread::sleep_for(50ms);  // pacing: the rounds land in different windows of the run
  }
  auto status = submit->Wait(Deadline::After(120s));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  const auto hit = ReadJson(hit_out);
  EXPECT_EQ(hit["digest"], clean["digest"]);
  EXPECT_EQ(hit["committed_events"], clean["committed_events"]);
  // The running job itself saw and dropped them.
  uint64_t dropped_by_job = 0;
  for (const auto& node : hit["nodes"]) dropped_by_job += node["frames_dropped"].get<uint64_t>();
  EXPECT_GT(dropped_by_job, 0u);
}

}  // namespace
}  // namespace meshsim::testing
