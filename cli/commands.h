// The meshsim subcommands. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/log/log.h"
#include "common/security/curve_keys.h"
#include "common/time/clock.h"

namespace meshsim::cli {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;         // the job failed, or a service is unreachable
inline constexpr int kExitBadInput = 2;       // bad arguments or scenario
inline constexpr int kExitInterrupted = 130;  // Ctrl-C (128 + SIGINT)

struct GlobalOptions {
  log::Options log;
  bool json = false;       // machine-readable output on stdout
  std::string keys_dir;    // --keys / MESHSIM_KEYS: CURVE keys (docs/security.md)
  std::string identity;    // --identity: which pair of keys_dir to use
  bool insecure = false;   // --insecure: serve on non-loopback addresses without keys
  std::string model_path;  // --model-path / MESHSIM_MODEL_PATH: plugin directories, colon-separated
};

struct RunOptions {
  std::string scenario_path;
  std::optional<uint32_t> nodes;
  std::string json_path;  // also write the JSON result here
  std::string csv_path;   // write the time series here
  std::string plot_path;  // draw the series and the node and link tables here
  bool show_logs = false;
  double node_timeout_seconds = 2.0;
  bool metrics = false;  // serve /metrics and keep the cluster up after the job
};
int RunLocal(const GlobalOptions& global, const RunOptions& options);

struct SubmitOptions {
  std::string coordinator;
  std::string scenario_path;
  std::optional<uint32_t> nodes;
  bool detach = false;
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
};
int Submit(const GlobalOptions& global, const SubmitOptions& options);
int Status(const GlobalOptions& global, const std::string& coordinator, uint64_t job_id,
           const std::string& csv_path, const std::string& plot_path);
int Cancel(const GlobalOptions& global, const std::string& coordinator, uint64_t job_id);
int Nodes(const GlobalOptions& global, const std::string& coordinator);
int Models(const GlobalOptions& global);
int Validate(const GlobalOptions& global, const std::string& scenario_path, std::optional<uint32_t> nodes);

struct BenchIpcOptions {
  std::string sizes = "64,1K,64K";
  double seconds = 0.2;
  int repetitions = 3;
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
};
int BenchIpc(const GlobalOptions& global, const BenchIpcOptions& options);

struct BenchSweepOptions {
  std::string scenario_path;
  std::string nodes = "1,2,4";
  std::string transports = "shm,tcp";
  std::string param;  // NAME=V1,V2,...
  int repetitions = 1;
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
};
int BenchSweep(const GlobalOptions& global, const BenchSweepOptions& options);

struct CoordinatorCommandOptions {
  std::string bind;
  double heartbeat_interval_seconds = 0.2;
  double node_timeout_seconds = 2.0;
  std::string state_dir;
  double recovery_grace_seconds = 10;
  size_t max_jobs = 10000;         // unfinished jobs the coordinator accepts
  std::string metrics_port = "0";  // 0 = off, auto, or a port
  std::string metrics_host = "127.0.0.1";
};
int ServeCoordinator(const GlobalOptions& global, const CoordinatorCommandOptions& options);

struct NodeCommandOptions {
  std::string coordinator;
  std::string name;
  std::string rpc_bind;
  std::string advertise_host;
  std::string data_bind;
  double stall_timeout_seconds = 30;
  std::string metrics_port = "0";
  std::string metrics_host = "127.0.0.1";
};
int ServeNode(const GlobalOptions& global, const NodeCommandOptions& options);

// `meshsim host`: several nodes as supervised children of one process.
struct HostCommandOptions {
  std::string coordinator;
  uint32_t nodes = 2;
  std::string name_prefix;
  std::string bind_host;
  std::string advertise_host;
  double stall_timeout_seconds = 30;
  std::string metrics_port = "0";  // the host's; its nodes serve on the ports after it
  std::string metrics_host = "127.0.0.1";
};
int ServeHost(const GlobalOptions& global, const HostCommandOptions& options);

// `meshsim keygen DIR`: a new cluster's keys, or one more (--name, --role).
struct KeygenOptions {
  std::string dir;
  std::string name;
  std::string role = "node";
  bool if_missing = false;  // a new set only where the directory has none (first start)
};
int Keygen(const GlobalOptions& global, const KeygenOptions& options);

// The keyring of --keys for this process (default_identity "client" picks
// admin or viewer), or null without --keys.
[[nodiscard]] absl::StatusOr<std::shared_ptr<security::Keyring>> LoadKeys(const GlobalOptions& global,
                                                                          std::string_view default_identity);
// FAILED_PRECONDITION when serving `what` on `host` (or `endpoint`) would be
// open to the network without keys and --insecure was not given.
[[nodiscard]] absl::Status CheckBindIsSafe(const GlobalOptions& global, bool have_keys, std::string_view host,
                                           std::string_view what);
[[nodiscard]] absl::Status CheckEndpointIsSafe(const GlobalOptions& global, bool have_keys,
                                               std::string_view endpoint, std::string_view what);

// Builds the command line and runs the chosen subcommand.
int Main(int argc, char** argv);

}  // namespace meshsim::cli
