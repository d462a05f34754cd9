// A coordinator and N nodes started as children of this process (what
// `meshsim run` stands up). Children report their endpoints through their
// output pipe; they die with this process, and Stop() (also run by the
// destructor) ends them in order: nodes first, then the coordinator. The
// coordinator keeps its state in a temporary directory that Stop() removes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/process/child_process.h"

namespace meshsim::cli {

struct LocalClusterOptions {
  std::string executable;  // the meshsim binary
  uint32_t nodes = 1;
  std::string log_level = "info";
  std::string log_format = "text";
  bool show_logs = false;  // forward children's log lines to stderr
  double node_timeout_seconds = 2.0;
  bool metrics = false;  // every process serves /metrics on a free port
};

class LocalCluster {
 public:
  // Starts the processes and waits until every node is registered and READY.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(LocalClusterOptions options);
  ~LocalCluster();

  const std::string& coordinator_endpoint() const { return coordinator_endpoint_; }
  // name -> http://.../metrics of each process, when started with metrics.
  const std::vector<std::pair<std::string, std::string>>& metrics_urls() const { return metrics_urls_; }
  // Describes children that exited, with their last log lines; empty if none.
  std::string DescribeExits();
  void Stop();

 private:
  LocalCluster() = default;
  std::unique_ptr<process::ChildProcess> coordinator_;
  std::vector<std::unique_ptr<process::ChildProcess>> nodes_;
  std::string coordinator_endpoint_;
  std::string state_dir_;  // removed by Stop()
  std::vector<std::pair<std::string, std::string>> metrics_urls_;
};

// Path of the running executable.
std::string SelfExecutable();

}  // namespace meshsim::cli
