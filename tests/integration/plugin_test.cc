// Model plugins across a real cluster: every node of a job must hold the
// coordinator's build of its model, and a model that throws fails its job,
// never the nodes. The plugins are tests/plugins/test_model.cc built twice
// (plugins-a, plugins-b: same name and version, different bytes).
#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/process/process_memory.h"
#include "common/rpc/rpc_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/meshsim.pb.h"
#include "tests/testing/cluster_test_base.h"
#include "zmq.hpp"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string PluginDir(const std::string& variant) {
  const char* dir = std::getenv("MESHSIM_TEST_PLUGINS");
  return std::string(dir ? dir : ".") + "/plugins-" + variant;
}

class PluginTest : public ClusterTestBase {
 protected:
  // The coordinator, every node and every CLI the test starts load build A,
  // unless a node is given its own --model-path.
  void SetUp() override { setenv("MESHSIM_MODEL_PATH", PluginDir("a").c_str(), 1); }
  void TearDown() override {
    ClusterTestBase::TearDown();
    unsetenv("MESHSIM_MODEL_PATH");
  }

  std::string Scenario(const std::string& params) const {
    return dir_.Write("testmodel.yaml",
                      "model: testmodel\nseed: 3\nend_time: 50\nlookahead: 0.5\nparams: {" + params + "}\n");
  }
  // Submits and waits for the job's end; its final status.
  nlohmann::json RunToEnd(const std::string& scenario, int nodes) {
    const uint64_t job = cluster_->SubmitDetached(scenario, nodes);
    EXPECT_TRUE(WaitFor(
        [&] {
          const std::string state = Status(job)["state"];
          return state == "COMPLETED" || state == "FAILED";
        },
        30s));
    return Status(job);
  }
  // The nodes are fine: PHOLD runs on all of them.
  void ExpectNodesServeTheNextJob(int nodes) {
    auto run = cluster_->Submit(SourcePath("scenarios/phold.yaml"), nodes);
    EXPECT_EQ(run.exit_code, 0) << run.output;
  }
};

TEST_F(PluginTest, ThePluginRunsOnEveryNodeCountWithOneDigest) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const std::string scenario = Scenario("lps: 64");
  const auto one = RunToEnd(scenario, 1);
  const auto two = RunToEnd(scenario, 2);
  ASSERT_EQ(one["state"], "COMPLETED") << one.dump();
  ASSERT_EQ(two["state"], "COMPLETED") << two.dump();
  EXPECT_EQ(one["digest"], two["digest"]);
  EXPECT_GT(one["summary"]["events"].get<int64_t>(), 64 * 50);

  // A client without the plugin submits all the same: the coordinator,
  // which has it, checks the scenario.
  auto submitted = RunMeshsim({"--model-path", dir_.path() + "/no-plugins", "submit", scenario,
                               "--coordinator", cluster_->endpoint(), "--nodes", "2", "--json", "-"},
                              tag_);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  EXPECT_THAT(submitted.output, HasSubstr(two["digest"].get<std::string>()));
}

TEST_F(PluginTest, ANodeWithoutThePluginFailsTheJobAtPreparationNamingItself) {
  const std::string empty = dir_.path() + "/no-plugins";
  cluster_ = std::make_unique<Cluster>(2, tag_, 1.0,
                                       std::vector<std::vector<std::string>>{{}, {"--model-path", empty}});
  const auto status = RunToEnd(Scenario("lps: 64"), 2);
  EXPECT_EQ(status["state"], "FAILED");
  const std::string reason = status["reason"];
  EXPECT_THAT(reason, HasSubstr("PrepareJob: node node-2: model 'testmodel' is not loaded here"));
  EXPECT_THAT(reason, HasSubstr("(model path: " + empty + ")"));
  ExpectNodesServeTheNextJob(2);
}

TEST_F(PluginTest, ANodeWithAnotherBuildFailsTheJobAtPreparationNamingTheDifference) {
  cluster_ = std::make_unique<Cluster>(
      2, tag_, 1.0, std::vector<std::vector<std::string>>{{}, {"--model-path", PluginDir("b")}});
  const auto status = RunToEnd(Scenario("lps: 64"), 2);
  EXPECT_EQ(status["state"], "FAILED");
  const std::string reason = status["reason"];
  EXPECT_THAT(reason, HasSubstr("node node-2: model 'testmodel' here is version 1.0.0 build "));
  EXPECT_THAT(reason, HasSubstr(PluginDir("b") + "/libtestmodel.so), the job's is version 1.0.0 build "));
  EXPECT_THAT(reason, HasSubstr(PluginDir("a") + "/libtestmodel.so on the coordinator)"));
  ExpectNodesServeTheNextJob(2);
}

TEST_F(PluginTest, AModelThatThrowsInInitFailsItsJobAndTheNodesServeOn) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const auto status = RunToEnd(Scenario("lps: 64, throw_in_init: 1"), 2);
  EXPECT_EQ(status["state"], "FAILED");
  EXPECT_THAT(status["reason"].get<std::string>(),
              HasSubstr("model 'testmodel' threw init exploded on purpose while its LPs were set up"));
  ExpectNodesServeTheNextJob(2);
}

TEST_F(PluginTest, AModelThatThrowsWhileRunningFailsItsJobAndTheNodesServeOn) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const auto status = RunToEnd(Scenario("lps: 64, throw_at: 20"), 2);
  EXPECT_EQ(status["state"], "FAILED");
  EXPECT_THAT(status["reason"].get<std::string>(),
              HasSubstr("model 'testmodel' threw event handler exploded on purpose while running"));
  ExpectNodesServeTheNextJob(2);
}

// Setting up LPs may outlast any RPC deadline (10^7 of them, or a large
// checkpoint): each node sets up on a thread of its own, all nodes at once,
// and answers "preparing" until it is done.
TEST_F(PluginTest, SlowSetUpsRunSideBySideAndTheJobCompletes) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const auto quick = RunToEnd(Scenario("lps: 64"), 2);
  const auto slow = RunToEnd(Scenario("lps: 64, init_seconds: 1.5"), 2);
  ASSERT_EQ(slow["state"], "COMPLETED") << slow.dump();
  EXPECT_EQ(slow["digest"], quick["digest"]);
  bool logged = false;
  for (const std::string& line : cluster_->coordinator().Tail()) {
    logged = logged || line.find("2 nodes set up their LPs in") != std::string::npos;
  }
  EXPECT_TRUE(logged) << "the coordinator did not log the set-up";
}

TEST_F(PluginTest, ASetUpPastThePrepareTimeoutFailsTheJobAndTheNodesServeOn) {
  cluster_ = std::make_unique<Cluster>(2, tag_, 1.0, std::vector<std::vector<std::string>>{},
                                       std::vector<std::string>{"--prepare-timeout", "1"});
  const auto status = RunToEnd(Scenario("lps: 64, init_seconds: 4"), 2);
  EXPECT_EQ(status["state"], "FAILED");
  EXPECT_THAT(status["reason"].get<std::string>(),
              HasSubstr("2 of 2 nodes had not set up their LPs within the coordinator's "
                        "--prepare-timeout of 1 s"));
  // The aborted set-up cannot stop halfway: the next job waits it out,
  // and its own deadline counts from when its set-up could begin.
  ExpectNodesServeTheNextJob(2);
}

// A model whose memory grows mid-job, on a node under an address-space cap
// the test sets itself: the job fails saying the node ran out of memory,
// and the node (its memory back once the job's model is gone) serves on.
TEST_F(PluginTest, ANodeThatRunsOutOfMemoryMidJobFailsTheJobAndServesOn) {
  cluster_ = std::make_unique<Cluster>(1, tag_);
  const pid_t node = cluster_->node(0).pid();
  const uint64_t mapped = process::VirtualMemoryBytes(node).value_or(0);
  ASSERT_GT(mapped, 0u);
  const rlimit cap{mapped + (512ull << 20), mapped + (512ull << 20)};
  ASSERT_EQ(::prlimit(node, RLIMIT_AS, &cap, nullptr), 0) << std::strerror(errno);
  const auto status = RunToEnd(Scenario("lps: 64, grow_at: 10"), 1);
  EXPECT_EQ(status["state"], "FAILED");
  const std::string reason = status["reason"];
  EXPECT_THAT(reason, HasSubstr("node node-1 ran out of memory while running (peak RSS "));
  EXPECT_THAT(reason, HasSubstr("from RLIMIT_AS): run it on more nodes or on nodes with more memory"));
  EXPECT_TRUE(cluster_->node(0).running());
  ExpectNodesServeTheNextJob(1);
}

// A node asked for a job while it still sets up another (whose abort was
// lost, say with a coordinator that restarted) drops the old one, answers
// "waiting for aborted" until its Init ends, then sets up the new one.
TEST_F(PluginTest, APrepareForAnotherJobSupersedesASetUpStillRunning) {
  cluster_ = std::make_unique<Cluster>(1, tag_);
  const auto nodes = cluster_->ListNodes();
  ASSERT_EQ(nodes.size(), 1u);
  zmq::context_t context;
  auto coordinator = rpc::RpcClient::Create(context, {.endpoint = cluster_->endpoint()});
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  v1::ListModelsReply models;
  ASSERT_TRUE((*coordinator)->Call("Coordinator.ListModels", v1::ListModelsRequest(), &models).ok());
  v1::PrepareJobRequest request;
  for (const auto& model : models.models()) {
    if (model.name() == "testmodel") *request.mutable_model_build() = model.build();
  }
  ASSERT_FALSE(request.model_build().fingerprint().empty());
  v1::Scenario& scenario = *request.mutable_scenario();
  scenario.set_model("testmodel");
  scenario.set_seed(1);
  scenario.set_end_time(5);
  scenario.set_lookahead(0.5);
  scenario.set_nodes(1);
  (*scenario.mutable_params())["lps"] = 8;
  (*scenario.mutable_params())["init_seconds"] = 2;
  v1::PeerInfo& self = *request.add_peers();
  self.set_node_id(nodes[0]["id"]);
  self.set_data_endpoint(nodes[0]["data_endpoint"]);
  request.set_attempt(1);
  // Jobs the coordinator does not know: the node's slot, not its records.
  request.set_job_id(901);
  auto node = rpc::RpcClient::Create(context, {.endpoint = nodes[0]["rpc_endpoint"]});
  ASSERT_TRUE(node.ok()) << node.status();
  v1::PrepareJobReply reply;
  ASSERT_TRUE((*node)->Call("Node.PrepareJob", request, &reply).ok());
  EXPECT_TRUE(reply.preparing());
  EXPECT_FALSE(reply.waiting_for_aborted());

  request.set_job_id(902);
  (*request.mutable_scenario()->mutable_params())["init_seconds"] = 0;
  ASSERT_TRUE((*node)->Call("Node.PrepareJob", request, &reply).ok());
  EXPECT_TRUE(reply.preparing());
  EXPECT_TRUE(reply.waiting_for_aborted());
  bool prepared = false;
  for (int call = 0; call < 100 && !prepared; ++call) {
    reply.Clear();
    const absl::Status status = (*node)->Call("Node.PrepareJob", request, &reply);
    ASSERT_TRUE(status.ok()) << status;
    prepared = !reply.preparing();
  }
  ASSERT_TRUE(prepared) << "job 902 was never set up";
  v1::AbortJobRequest abort;
  abort.set_job_id(902);
  abort.set_attempt(1);
  v1::AbortJobReply aborted;
  ASSERT_TRUE((*node)->Call("Node.AbortJob", abort, &aborted).ok());
  ExpectNodesServeTheNextJob(1);
}

}  // namespace
}  // namespace meshsim::testing
