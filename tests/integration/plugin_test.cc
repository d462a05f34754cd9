// Model plugins across a real cluster: every node of a job must hold the
// coordinator's build of its model, and a model that throws fails its job,
// never the nodes. The plugins are tests/plugins/test_model.cc built twice
// (plugins-a, plugins-b: same name and version, different bytes).
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster_test_base.h"

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

}  // namespace
}  // namespace meshsim::testing
