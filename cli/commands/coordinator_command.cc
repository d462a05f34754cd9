// `meshsim coordinator`: serve as the coordinator until SIGINT or SIGTERM.
#include "cli/commands/commands.h"
#include "cli/keys.h"
#include "cli/output.h"
#include "cli/serving.h"
#include "common/metrics/metrics.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "spdlog/spdlog.h"

namespace meshsim::cli {
namespace {

struct CoordinatorCommandOptions {
  std::string bind;
  double heartbeat_interval_seconds = 0.2;
  double node_timeout_seconds = 2.0;
  std::string state_dir;
  double recovery_grace_seconds = 10;
  double prepare_timeout_seconds = 600;
  size_t max_jobs = 10000;         // unfinished jobs the coordinator accepts
  std::string metrics_port = "0";  // 0 = off, auto, or a port
  std::string metrics_host = "127.0.0.1";
};

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
  coordinator_options.prepare_timeout = Seconds(options.prepare_timeout_seconds);
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

}  // namespace

Command AddCoordinatorCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<CoordinatorCommandOptions>();
  CLI::App* app = parent.add_subcommand("coordinator", "Serve as the coordinator");
  app->add_option("--bind", options->bind, "RPC endpoint to bind")->default_val(kDefaultCoordinator);
  app->add_option("--heartbeat-interval", options->heartbeat_interval_seconds,
                  "Seconds between node heartbeats")
      ->default_val(0.2)
      ->check(CLI::Range(0.01, 60.0));
  app->add_option("--node-timeout", options->node_timeout_seconds,
                  "Seconds without a heartbeat before a node is lost")
      ->default_val(2.0)
      ->check(CLI::Range(0.05, 3600.0));
  app->add_option("--state-dir", options->state_dir,
                  "Directory of the coordinator's database and checkpoints (created if missing)")
      ->envname("MESHSIM_STATE_DIR")
      ->default_val("meshsim-state");
  app->add_option("--recovery-grace", options->recovery_grace_seconds,
                  "Seconds a job that lost a node waits for a replacement before restarting on fewer "
                  "nodes; also how long a restarted coordinator waits for running jobs' nodes")
      ->default_val(10.0)
      ->check(CLI::Range(0.0, 86400.0));
  app->add_option("--prepare-timeout", options->prepare_timeout_seconds,
                  "Seconds a job's nodes may take to set up its LPs (Init, or restoring a checkpoint) "
                  "before the job fails")
      ->default_val(600.0)
      ->check(CLI::Range(0.1, 86400.0));
  app->add_option("--max-jobs", options->max_jobs,
                  "Unfinished jobs (queued, running, recovering) accepted at once; more are refused")
      ->default_val(10000)
      ->check(CLI::Range(1, 10000000));
  AddMetricsOptions(*app, options->metrics_port, options->metrics_host);
  return {.app = app, .serves = true, .run = [options](const GlobalOptions& global) {
            return ServeCoordinator(global, *options);
          }};
}

}  // namespace meshsim::cli
