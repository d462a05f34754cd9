// Several node processes in one container or pod, supervised (what
// `meshsim host` runs). Orchestrators give every container its own IPC
// namespace and do not let separate services share one, so nodes that
// should talk through shared memory on a host run as children of one
// process there: they share its /dev/shm, and the probe finds that they do.
//
// The host starts `nodes` children named <prefix>-1..N, forwards their log
// lines, restarts a child that exits (with a backoff that doubles up to a
// ceiling and resets once a child has stayed up), and on Stop() sends every
// child SIGTERM so each leaves the coordinator cleanly, then reaps them.
//
// Thread-safety: Start() and Stop() from one thread; the supervision runs on
// a thread of its own.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "common/process/child_process.h"
#include "common/time/clock.h"

namespace prometheus {
class Counter;
class Gauge;
}  // namespace prometheus

namespace meshsim::cli {

struct NodeHostOptions {
  std::string executable;  // the meshsim binary
  uint32_t nodes = 2;
  std::string name_prefix;  // children are <prefix>-1..N; default: the hostname
  std::string coordinator;
  std::string bind_host = "127.0.0.1";  // children bind RPC and data on any port of it
  std::string advertise_host;           // passed on; empty = each node finds its own
  // The host's /metrics; children serve on the following ports
  // (port+1..port+N), or on ports of their own choosing with port 0.
  std::optional<metrics::MetricsBind> metrics;
  double stall_timeout_seconds = 30;
  std::string log_level = "info";
  std::string log_format = "text";
  // Passed on to every node (docs/security.md).
  std::string keys_dir;
  std::string identity;
  bool insecure = false;
  Duration restart_delay_min = std::chrono::seconds(1);
  Duration restart_delay_max = std::chrono::seconds(30);
  // A child that stayed up this long is restarted after the minimum delay again.
  Duration stable_after = std::chrono::seconds(60);
};

class NodeHost {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<NodeHost>> Create(NodeHostOptions options);
  ~NodeHost();
  NodeHost(const NodeHost&) = delete;
  NodeHost& operator=(const NodeHost&) = delete;

  // Starts the children and the supervision thread.
  [[nodiscard]] absl::Status Start();
  // SIGTERM to every child, SIGKILL to those still running after `grace`.
  void Stop(Duration grace);

  const std::string& metrics_url() const { return metrics_url_; }
  // The children's names, in order.
  std::vector<std::string> node_names() const;

 private:
  struct Slot {
    std::string name;
    std::vector<std::string> argv;
    std::unique_ptr<process::ChildProcess> child;
    TimePoint started{};
    TimePoint restart_at{};  // when the next start is due, while no child runs
    Duration next_delay{};
    uint64_t restarts = 0;
  };

  explicit NodeHost(NodeHostOptions options) : options_(std::move(options)) {}
  absl::Status Spawn(Slot& slot);
  void SuperviseLoop();
  void Supervise(Slot& slot, TimePoint now);

  NodeHostOptions options_;
  std::vector<Slot> slots_;  // touched by the supervision thread once it runs
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::string metrics_url_;
  prometheus::Gauge* nodes_running_ = nullptr;
  prometheus::Counter* restarts_ = nullptr;

  std::mutex mutex_;
  std::condition_variable stop_requested_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread supervisor_;
};

}  // namespace meshsim::cli
