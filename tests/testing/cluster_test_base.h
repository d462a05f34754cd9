// A fixture for tests that drive a Cluster: a fresh process tag, a temp
// directory, and the check that no process the test started outlives it.
#pragma once

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {

class ClusterTestBase : public ::testing::Test {
 protected:
  void TearDown() override {
    cluster_.reset();
    EXPECT_TRUE(TaggedProcesses(tag_).empty()) << "processes left behind";
  }
  nlohmann::json Status(uint64_t job) const { return cluster_->JobStatus(job); }

  std::string tag_ = NewTag();
  TempDir dir_;
  std::unique_ptr<Cluster> cluster_;
};

}  // namespace meshsim::testing
