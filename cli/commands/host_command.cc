// `meshsim host`: several nodes of one host as supervised children (they
// share its shared memory), until SIGINT or SIGTERM.
#include "absl/strings/str_join.h"
#include "cli/commands/commands.h"
#include "cli/keys.h"
#include "cli/local_cluster.h"
#include "cli/node_host.h"
#include "cli/output.h"
#include "cli/serving.h"
#include "common/metrics/metrics.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::cli {
namespace {

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

}  // namespace

Command AddHostCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<HostCommandOptions>();
  CLI::App* app = parent.add_subcommand(
      "host", "Serve several nodes of one host as supervised children (they share its shared memory)");
  AddCoordinatorOption(*app, options->coordinator);
  app->add_option("--nodes", options->nodes, "Node processes on this host")
      ->envname("MESHSIM_HOST_NODES")
      ->default_val(2)
      ->check(CLI::Range(1, 64));
  app->add_option("--name-prefix", options->name_prefix,
                  "Nodes are named <prefix>-1..N (default: the hostname)")
      ->envname("MESHSIM_HOST_NAME");
  app->add_option("--bind-host", options->bind_host, "Address the nodes bind RPC and data ports on")
      ->default_val("127.0.0.1");
  app->add_option("--advertise-host", options->advertise_host,
                  "Host the coordinator and peers reach the nodes at (default: each node finds its own)")
      ->envname("MESHSIM_ADVERTISE_HOST");
  AddMetricsOptions(*app, options->metrics_port, options->metrics_host);
  AddStallTimeoutOption(*app, options->stall_timeout_seconds);
  return {.app = app,
          .serves = true,
          .process_name = [options] { return options->name_prefix; },
          .run = [options](const GlobalOptions& global) { return ServeHost(global, *options); }};
}

}  // namespace meshsim::cli
