// `meshsim run`: a scenario on a local cluster started for it (a
// coordinator and N nodes as children), followed to the end.
#include <thread>

#include "cli/commands/commands.h"
#include "cli/job_client.h"
#include "cli/local_cluster.h"
#include "cli/output.h"
#include "common/strings/format.h"
#include "zmq.hpp"

namespace meshsim::cli {
namespace {

struct RunOptions {
  std::string scenario_path;
  ScenarioOverrides overrides;
  std::string json_target;  // --json FILE, '-' for stdout
  std::string json_path;
  std::string csv_path;   // write the time series here
  std::string plot_path;  // draw the series and the node and link tables here
  bool show_logs = false;
  double node_timeout_seconds = 2.0;
  bool metrics = false;  // serve /metrics and keep the cluster up after the job
};

int RunLocal(const GlobalOptions& global, const RunOptions& options) {
  auto scenario = LoadScenario(options.scenario_path, options.overrides);
  if (!scenario.ok()) return FailWith(scenario.status());
  const JobOutputs outputs{options.json_path, options.csv_path, options.plot_path};
  if (auto status = CheckOutputsWanted(*scenario, outputs); !status.ok()) return FailWith(status);
  const std::atomic<bool>& interrupted = CatchInterrupts();
  if (!global.json) {
    fmt::print(stderr, "meshsim: starting a local cluster of {} node(s) for {}\n", scenario->nodes(),
               scenario->name());
  }
  auto cluster = LocalCluster::Start({.executable = SelfExecutable(),
                                      .nodes = scenario->nodes(),
                                      .log_level = global.log.level,
                                      .log_format = global.log.format == log::Format::kJson ? "json" : "text",
                                      .show_logs = options.show_logs,
                                      .node_timeout_seconds = options.node_timeout_seconds,
                                      .metrics = options.metrics});
  if (!cluster.ok()) return FailWith(cluster.status());
  if (options.metrics) {
    // On stderr, so stdout stays the result (e.g. --json -).
    fmt::print(stderr, "meshsim: Prometheus metrics:\n");
    for (const auto& [name, url] : (*cluster)->metrics_urls()) fmt::print(stderr, "  {:<12} {}\n", name, url);
  }
  zmq::context_t context;
  GlobalOptions keyless = global;  // the local cluster has no keys
  keyless.keys_dir.clear();
  auto client = ConnectToCoordinator(keyless, context, (*cluster)->coordinator_endpoint());
  if (!client.ok()) return FailWith(client.status());

  v1::SubmitJobRequest submit;
  *submit.mutable_scenario() = *scenario;
  v1::SubmitJobReply submitted;
  if (auto status = (*client)->Call("Coordinator.SubmitJob", submit, &submitted); !status.ok()) {
    return FailWith(status);
  }
  auto job = FollowJob(**client, submitted.job_id(), &interrupted);
  if (!job.ok()) {
    fmt::print(stderr, "meshsim: {}\n{}", job.status().message(), (*cluster)->DescribeExits());
    return kExitFailed;
  }
  int code = ReportJob(global, *job, outputs);
  if (job->state() == v1::FAILED) {
    const std::string exits = (*cluster)->DescribeExits();
    if (!exits.empty()) fmt::print(stderr, "{}", exits);
  }
  if (options.metrics && !interrupted.load()) {
    fmt::print(stderr, "meshsim: the cluster keeps serving its metrics; Ctrl-C stops it\n");
    while (!interrupted.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*cluster)->Stop();
    return code;
  }
  (*cluster)->Stop();
  return interrupted.load() ? kExitInterrupted : code;
}

}  // namespace

Command AddRunCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* app = parent.add_subcommand("run", "Run a scenario on a local cluster started for it");
  app->add_option("scenario", options->scenario_path, "Scenario file (YAML)")->required();
  AddScenarioOverrideOptions(*app, options->overrides, "Number of node processes (default: the scenario's)");
  AddJobOutputOptions(*app, options->json_target, options->csv_path, options->plot_path);
  app->add_flag("--show-logs", options->show_logs, "Show the cluster's logs as they come");
  app->add_flag("--metrics", options->metrics,
                "Serve Prometheus /metrics on every process, print the addresses, and keep the cluster up "
                "after the job until Ctrl-C");
  app->add_option("--node-timeout", options->node_timeout_seconds,
                  "Seconds without a heartbeat before a node is lost")
      ->default_val(2.0);
  return {.app = app, .serves = true, .run = [options](const GlobalOptions& global) {
            return RunLocal(JsonTarget(global, options->json_target, options->json_path), *options);
          }};
}
}  // namespace meshsim::cli
