// Helpers for tests that run the real meshsim binary as separate processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/process/child_process.h"
#include "common/time/clock.h"
#include "nlohmann/json.hpp"

namespace meshsim::testing {

// The meshsim binary under test (ctest sets MESHSIM_BIN) and the source tree.
std::string MeshsimBinary();
std::string SourcePath(const std::string& relative);

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to `name` inside the directory; returns its path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Every process this test starts carries MESHSIM_TEST_TAG=<tag> in its
// environment, and so do their children; TaggedProcesses finds them all,
// whoever their parent is now.
std::string NewTag();
std::vector<pid_t> TaggedProcesses(const std::string& tag);

// Stops node processes as an operator does, SIGTERM to all at once and up
// to `grace` for each to exit (then SIGKILL), so that each removes its
// shared-memory segments; a process killed outright leaves its probe in
// /dev/shm until the next node starts and sweeps it.
void StopNodes(std::vector<std::unique_ptr<process::ChildProcess>>& nodes,
               std::chrono::milliseconds grace = std::chrono::seconds(5));
// Names in /dev/shm of segments `pid` made ("meshsim.<pid>.*").
std::vector<std::string> SegmentsOf(pid_t pid);

struct CommandResult {
  int exit_code = -1;  // -1: killed or timed out
  std::string output;  // stdout and stderr, interleaved
};

// Runs `meshsim args...` to completion (killed after `timeout`).
CommandResult RunMeshsim(const std::vector<std::string>& args, const std::string& tag,
                         Duration timeout = std::chrono::seconds(120));

// Starts `meshsim args...` and returns the running process.
std::unique_ptr<process::ChildProcess> StartMeshsim(const std::string& name,
                                                    const std::vector<std::string>& args,
                                                    const std::string& tag);

// Polls `condition` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, Duration timeout);

nlohmann::json ReadJson(const std::string& path);
// GET http://127.0.0.1:port/path over HTTP/1.0; the body, or "" on failure.
std::string HttpGet(const std::string& url);
std::string ReadText(const std::string& path);

// The scenario text with its top-level line `key: ...` replaced by `line`.
std::string WithLine(std::string yaml, const std::string& key, const std::string& line);

// A coordinator and nodes started as separate processes, as a user would.
class Cluster {
 public:
  Cluster(int nodes, const std::string& tag, double node_timeout_seconds = 1.0)
      : Cluster(nodes, tag, node_timeout_seconds, {}) {}
  // `node_args[i]`: more arguments for node i (e.g. its own --model-path);
  // `coordinator_args`: more for the coordinator.
  Cluster(int nodes, const std::string& tag, double node_timeout_seconds,
          const std::vector<std::vector<std::string>>& node_args,
          const std::vector<std::string>& coordinator_args = {});
  ~Cluster();
  const std::string& endpoint() const { return endpoint_; }
  process::ChildProcess& node(int index) { return *nodes_.at(index); }
  process::ChildProcess& coordinator() { return *coordinator_; }
  // `meshsim nodes --json`.
  nlohmann::json ListNodes() const;
  // `meshsim submit FILE --nodes N` (and `--json json_out` when given),
  // waiting for the job to end.
  CommandResult Submit(const std::string& scenario_path, int nodes, const std::string& json_out = "") const;
  // `meshsim status JOB --json`; null when it printed no JSON.
  nlohmann::json JobStatus(uint64_t job) const;
  // `meshsim submit FILE --nodes N --detach`; returns the job id (0 and a
  // test failure if it did not submit).
  uint64_t SubmitDetached(const std::string& scenario_path, int nodes) const;
  // Polls the job until it is RUNNING and has advanced virtual time.
  bool WaitUntilRunning(uint64_t job) const;

 private:
  std::string tag_;
  TempDir state_dir_;  // the coordinator's --state-dir lives inside
  std::unique_ptr<process::ChildProcess> coordinator_;
  std::vector<std::unique_ptr<process::ChildProcess>> nodes_;
  std::string endpoint_;
};

}  // namespace meshsim::testing
