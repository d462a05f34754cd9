// `meshsim node`: serve as a node until SIGINT or SIGTERM.
#include <cstdlib>

#include "cli/commands/commands.h"
#include "cli/keys.h"
#include "cli/output.h"
#include "cli/serving.h"
#include "common/metrics/metrics.h"
#include "common/process/process_memory.h"
#include "common/strings/format.h"
#include "node/node.h"
#include "spdlog/spdlog.h"

namespace meshsim::cli {
namespace {

struct NodeCommandOptions {
  std::string coordinator;
  std::string name;
  std::string rpc_bind;
  std::string advertise_host;
  std::string data_bind;
  double stall_timeout_seconds = 30;
  std::string memory_limit;  // empty: what the host, cgroup and rlimits allow
  std::string metrics_port = "0";
  std::string metrics_host = "127.0.0.1";
};

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
  // Set by CommandLine::Run from --model-path or the default.
  if (const char* path = std::getenv("MESHSIM_MODEL_PATH")) node_options.model_path = path;
  node_options.rpc_bind = options.rpc_bind;
  node_options.data_bind = options.data_bind;
  node_options.advertise_host = options.advertise_host;
  node_options.job.stall_timeout = Seconds(options.stall_timeout_seconds);
  if (!options.memory_limit.empty()) {
    std::string why;
    const auto bytes = process::ParseByteSize(options.memory_limit, &why);
    if (!bytes)
      return FailWith(absl::InvalidArgumentError(StrCat("--memory-limit ", options.memory_limit, ": ", why)));
    node_options.memory_limit = {*bytes, "--memory-limit"};
  }
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

}  // namespace

Command AddNodeCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<NodeCommandOptions>();
  CLI::App* app = parent.add_subcommand("node", "Serve as a node");
  AddCoordinatorOption(*app, options->coordinator);
  app->add_option("--name", options->name, "Name shown in `meshsim nodes` (default: <hostname>-<pid>)")
      ->envname("MESHSIM_NODE_NAME");
  app->add_option("--rpc-bind", options->rpc_bind, "Node RPC endpoint to bind")
      ->default_val("tcp://127.0.0.1:0");
  app->add_option("--data-bind", options->data_bind, "Data-plane endpoint to bind")
      ->default_val("tcp://127.0.0.1:0");
  app->add_option("--advertise-host", options->advertise_host,
                  "Host the coordinator and peers reach this node at (default: the bound host; for "
                  "0.0.0.0 the local address toward the coordinator)")
      ->envname("MESHSIM_ADVERTISE_HOST");
  AddMetricsOptions(*app, options->metrics_port, options->metrics_host);
  AddStallTimeoutOption(*app, options->stall_timeout_seconds);
  app->add_option("--memory-limit", options->memory_limit,
                  "Most memory this node may use, e.g. 6G (default: the least of the host's memory, the "
                  "cgroup's memory.max and the rlimits); the coordinator refuses jobs that would not fit. "
                  "Give each node its share where several share a host")
      ->envname("MESHSIM_MEMORY_LIMIT");
  return {.app = app,
          .serves = true,
          .process_name = [options] { return options->name; },
          .run = [options](const GlobalOptions& global) { return ServeNode(global, *options); }};
}

}  // namespace meshsim::cli
