// Subcommands that serve: coordinator, node and host (several nodes). Each prints its endpoints as
// "@meshsim key=value" status lines on stdout (read by `meshsim run` through
// a pipe) and runs until SIGINT or SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/local_cluster.h"
#include "cli/node_host.h"
#include "cli/output.h"
#include "common/metrics/metrics.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "node/node.h"

namespace meshsim::cli {
namespace {

// Blocks SIGINT/SIGTERM in this thread and every thread it starts later, so
// the main thread can wait for them with sigwait.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

int WaitForStopSignal(const sigset_t& set) {
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

void PrintStatus(std::string_view key, std::string_view value) {
  std::printf("@meshsim %.*s=%.*s\n", static_cast<int>(key.size()), key.data(),
              static_cast<int>(value.size()), value.data());
  std::fflush(stdout);
}

Duration Seconds(double seconds) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

int ServeCoordinator(const GlobalOptions& global, const CoordinatorCommandOptions& options) {
  const sigset_t stop_signals = BlockStopSignals();
  auto keys = LoadKeys(global, "coordinator");
  if (!keys.ok()) return FailWith(keys.status());
  if (auto safe = CheckEndpointIsSafe(global, *keys != nullptr, options.bind, "the coordinator's RPC");
      !safe.ok()) {
    return FailWith(safe);
  }
  coordinator::CoordinatorOptions coordinator_options;
  coordinator_options.keyring = *keys;
  coordinator_options.bind = options.bind;
  coordinator_options.heartbeat_interval = Seconds(options.heartbeat_interval_seconds);
  coordinator_options.node_timeout = Seconds(options.node_timeout_seconds);
  coordinator_options.state_dir = options.state_dir;
  coordinator_options.recovery_grace = Seconds(options.recovery_grace_seconds);
  coordinator_options.max_unfinished_jobs = options.max_jobs;
  auto metrics = metrics::ParseMetricsPort(options.metrics_port, options.metrics_host);
  if (!metrics.ok()) return FailWith(metrics.status());
  coordinator_options.metrics = *metrics;
  auto coordinator = coordinator::Coordinator::Create(coordinator_options);
  if (!coordinator.ok()) {
    spdlog::critical("{}", coordinator.status().message());
    return kExitFailed;
  }
  (*coordinator)->Start();
  PrintStatus("rpc", (*coordinator)->endpoint());
  if (!(*coordinator)->metrics_url().empty()) PrintStatus("metrics", (*coordinator)->metrics_url());
  const int signal = WaitForStopSignal(stop_signals);
  spdlog::info("coordinator stopping on signal {}", signal);
  (*coordinator)->Stop();
  return kExitOk;
}

int ServeNode(const GlobalOptions& global, const NodeCommandOptions& options) {
  const sigset_t stop_signals = BlockStopSignals();
  auto keys = LoadKeys(global, "node");
  if (!keys.ok()) return FailWith(keys.status());
  for (const auto& [endpoint, what] :
       {std::pair{options.rpc_bind, "the node's RPC"}, {options.data_bind, "data"}}) {
    if (auto safe = CheckEndpointIsSafe(global, *keys != nullptr, endpoint, what); !safe.ok()) {
      return FailWith(safe);
    }
  }
  node::NodeOptions node_options;
  node_options.keyring = *keys;
  node_options.coordinator_endpoint = options.coordinator;
  node_options.name = options.name;
  if (const char* path = std::getenv("MESHSIM_MODEL_PATH")) node_options.model_path = path;  // set by Main
  node_options.rpc_bind = options.rpc_bind;
  node_options.data_bind = options.data_bind;
  node_options.advertise_host = options.advertise_host;
  node_options.job.stall_timeout = Seconds(options.stall_timeout_seconds);
  auto metrics = metrics::ParseMetricsPort(options.metrics_port, options.metrics_host);
  if (!metrics.ok()) return FailWith(metrics.status());
  node_options.metrics = *metrics;
  auto node = node::Node::Create(node_options);
  if (!node.ok()) {
    spdlog::critical("{}", node.status().message());
    return kExitFailed;
  }
  PrintStatus("rpc", (*node)->rpc_endpoint());
  PrintStatus("data", (*node)->data_endpoint());
  if (!(*node)->metrics_url().empty()) PrintStatus("metrics", (*node)->metrics_url());
  (*node)->Start([](uint32_t node_id) { PrintStatus("node_id", fmt::format("{}", node_id)); });
  const int signal = WaitForStopSignal(stop_signals);
  spdlog::info("node stopping on signal {}", signal);
  (*node)->Stop(StrCat("shutting down on ", signal == SIGTERM ? "SIGTERM" : "SIGINT"));
  return kExitOk;
}

int ServeHost(const GlobalOptions& global, const HostCommandOptions& options) {
  const sigset_t stop_signals = BlockStopSignals();
  // The nodes load the keys themselves (MESHSIM_KEYS is inherited; --keys
  // and --insecure are passed on); check here so a bad setup fails once.
  auto keys = LoadKeys(global, "node");
  if (!keys.ok()) return FailWith(keys.status());
  if (auto safe = CheckBindIsSafe(global, *keys != nullptr, options.bind_host, "nodes"); !safe.ok()) {
    return FailWith(safe);
  }
  auto metrics = metrics::ParseMetricsPort(options.metrics_port, options.metrics_host);
  if (!metrics.ok()) return FailWith(metrics.status());
  auto host = NodeHost::Create({.executable = SelfExecutable(),
                                .nodes = options.nodes,
                                .name_prefix = options.name_prefix,
                                .coordinator = options.coordinator,
                                .bind_host = options.bind_host,
                                .advertise_host = options.advertise_host,
                                .metrics = *metrics,
                                .stall_timeout_seconds = options.stall_timeout_seconds,
                                .log_level = global.log.level,
                                .log_format = global.log.format == log::Format::kJson ? "json" : "text",
                                .keys_dir = global.keys_dir,
                                .identity = global.identity,
                                .insecure = global.insecure});
  if (!host.ok()) return FailWith(host.status());
  if (auto status = (*host)->Start(); !status.ok()) return FailWith(status);
  if (!(*host)->metrics_url().empty()) PrintStatus("metrics", (*host)->metrics_url());
  PrintStatus("nodes", absl::StrJoin((*host)->node_names(), ","));
  const int signal = WaitForStopSignal(stop_signals);
  spdlog::info("host stopping on signal {}: its nodes leave the coordinator", signal);
  // Nodes leave the coordinator within a few seconds; the rest of a
  // container's stop grace period is what the kill waits for.
  (*host)->Stop(std::chrono::seconds(10));
  return kExitOk;
}

}  // namespace meshsim::cli
