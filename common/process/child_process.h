// A child process whose stdout and stderr come back to the parent through a
// pipe (parent-child communication). A reader thread splits the output into
// lines: lines starting with "@meshsim " are status lines a child uses to
// tell its parent things (its endpoint, that it is ready); all others are
// log lines, kept as a bounded tail and optionally forwarded.
//
// Children die with their parent: each gets PR_SET_PDEATHSIG(SIGTERM), and
// runs in its own process group, so a Ctrl-C at the terminal reaches only
// the parent, which then stops its children in order.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/time/clock.h"

namespace meshsim::process {

inline constexpr std::string_view kStatusPrefix = "@meshsim ";

class ChildProcess {
 public:
  struct Options {
    std::string name;               // for messages: "coordinator", "node-2"
    std::vector<std::string> argv;  // argv[0] is the executable path
    // Set in the child's environment on top of this process's ("KEY=VALUE").
    std::vector<std::string> extra_env = {};
    // Called on the reader thread for each log line; may be empty.
    std::function<void(const std::string& name, const std::string& line)> on_log_line = {};
    size_t tail_lines = 200;
  };

  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(Options options);

  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return options_.name; }

  // Waits for a status line "@meshsim <key>=<value>" and returns the value.
  // DEADLINE_EXCEEDED on timeout; UNAVAILABLE if the child exits first.
  [[nodiscard]] absl::StatusOr<std::string> WaitForStatus(std::string_view key, Deadline deadline);

  // Waits until the child's output pipe is closed (it and everything it
  // started that shares the pipe have exited). False on timeout.
  bool WaitForOutputEnd(Deadline deadline);

  // The last log lines, oldest first.
  std::vector<std::string> Tail() const;

  void Signal(int signal) const;

  // Waits for the child to exit; returns its wait status, or nullopt if it
  // is still running at the deadline.
  std::optional<int> Wait(Deadline deadline);

  // SIGTERM, then SIGKILL if it has not exited within `grace`. Returns the
  // wait status.
  int Stop(Duration grace);

  bool running();

 private:
  ChildProcess(Options options, pid_t pid, int read_fd);
  void ReadLoop();

  Options options_;
  pid_t pid_;
  int read_fd_;
  std::thread reader_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> tail_;           // guarded by mutex_
  std::vector<std::string> status_lines_;  // guarded by mutex_
  bool output_closed_ = false;             // guarded by mutex_
  std::optional<int> wait_status_;         // guarded by mutex_
};

// Describes a wait status: "exited with code 3", "killed by signal 9".
std::string DescribeWaitStatus(int wait_status);

}  // namespace meshsim::process
