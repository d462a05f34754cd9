#include "CLI/CLI.hpp"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "common/sim/model_plugins.h"
#include "common/strings/format.h"
#include "models/builtin.h"
#include "spdlog/spdlog.h"

namespace meshsim::cli {
namespace {

constexpr char kDefaultCoordinator[] = "tcp://127.0.0.1:7700";

void AddCoordinatorOption(CLI::App* command, std::string* endpoint) {
  command->add_option("--coordinator", *endpoint, "Coordinator RPC endpoint")
      ->envname("MESHSIM_COORDINATOR")
      ->default_val(kDefaultCoordinator);
}

// `--json` on commands that print: a flag for JSON on stdout.
void AddJsonFlag(CLI::App* command, GlobalOptions* global) {
  command->add_flag("--json", global->json, "Print machine-readable JSON on stdout");
}

}  // namespace

int Main(int argc, char** argv) {
  models::RegisterBuiltinModels();
  CLI::App app{"meshsim: distributed discrete-event simulation"};
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  std::string log_format = "text";
  app.add_option("--log-level", global.log.level, "trace, debug, info, warn, error, critical, off")
      ->default_val("info");
  app.add_option("--log-format", log_format, "text or json")->default_val("text");
  app.add_option("--keys", global.keys_dir,
                 "Directory of CURVE keys (meshsim keygen): authenticate and encrypt RPC and data")
      ->envname("MESHSIM_KEYS");
  app.add_option("--identity", global.identity,
                 "Which key pair of --keys to use (default: coordinator, node, or admin/viewer for clients)");
  app.add_option("--model-path", global.model_path,
                 "Directories of model plugins, colon-separated (default: <prefix>/lib/meshsim/models)")
      ->envname("MESHSIM_MODEL_PATH");
  app.add_flag("--insecure", global.insecure,
               "Serve on a non-loopback address without keys (only on a network you trust)");

  // run
  RunOptions run;
  std::string run_json;
  auto* run_cmd = app.add_subcommand("run", "Run a scenario on a local cluster started for it");
  run_cmd->add_option("scenario", run.scenario_path, "Scenario file (YAML)")->required();
  run_cmd->add_option("--nodes", run.nodes, "Number of node processes (default: the scenario's)");
  run_cmd->add_option("--json", run_json, "Write the JSON result to this file ('-' for stdout)");
  run_cmd->add_option("--csv", run.csv_path, "Write the model's time series to this CSV file");
  run_cmd->add_option(
      "--plot", run.plot_path,
      "Draw the time series, events per node and bytes per link to this .svg or .png (gnuplot)");
  run_cmd->add_flag("--show-logs", run.show_logs, "Show the cluster's logs as they come");
  run_cmd->add_flag(
      "--metrics", run.metrics,
      "Serve Prometheus /metrics on every process, print the addresses, and keep the cluster up "
      "after the job until Ctrl-C");
  run_cmd
      ->add_option("--node-timeout", run.node_timeout_seconds,
                   "Seconds without a heartbeat before a node is lost")
      ->default_val(2.0);

  // submit
  SubmitOptions submit;
  std::string submit_json;
  auto* submit_cmd = app.add_subcommand("submit", "Submit a scenario to a running coordinator and wait");
  submit_cmd->add_option("scenario", submit.scenario_path, "Scenario file (YAML)")->required();
  AddCoordinatorOption(submit_cmd, &submit.coordinator);
  submit_cmd->add_option("--nodes", submit.nodes, "Number of nodes (default: the scenario's)");
  submit_cmd->add_flag("--detach", submit.detach, "Print the job id and return without waiting");
  submit_cmd->add_option("--json", submit_json, "Write the JSON result to this file ('-' for stdout)");
  submit_cmd->add_option("--csv", submit.csv_path, "Write the model's time series to this CSV file");
  submit_cmd->add_option(
      "--plot", submit.plot_path,
      "Draw the time series, events per node and bytes per link to this .svg or .png (gnuplot)");

  std::string coordinator;
  uint64_t job_id = 0;
  std::string status_csv;
  std::string status_plot;
  auto* status_cmd = app.add_subcommand("status", "Show a job's state and result");
  status_cmd->add_option("job", job_id, "Job id")->required();
  status_cmd->add_option("--csv", status_csv, "Write the finished job's time series to this CSV file");
  status_cmd->add_option("--plot", status_plot,
                         "Draw the finished job's series, events per node and bytes per link (.svg or .png)");
  AddCoordinatorOption(status_cmd, &coordinator);
  AddJsonFlag(status_cmd, &global);

  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a queued or running job");
  cancel_cmd->add_option("job", job_id, "Job id")->required();
  AddCoordinatorOption(cancel_cmd, &coordinator);
  AddJsonFlag(cancel_cmd, &global);

  auto* nodes_cmd = app.add_subcommand("nodes", "List the nodes the coordinator knows");
  AddCoordinatorOption(nodes_cmd, &coordinator);
  AddJsonFlag(nodes_cmd, &global);

  auto* models_cmd = app.add_subcommand("models", "List the models and their parameters");
  AddJsonFlag(models_cmd, &global);

  std::string validate_path;
  std::optional<uint32_t> validate_nodes;
  auto* validate_cmd = app.add_subcommand("validate", "Check a scenario file");
  validate_cmd->add_option("scenario", validate_path, "Scenario file (YAML)")->required();
  validate_cmd->add_option("--nodes", validate_nodes, "Check it for this many nodes");
  AddJsonFlag(validate_cmd, &global);

  auto* bench_cmd = app.add_subcommand("bench", "Measure: IPC mechanisms side by side, or a grid of runs");
  bench_cmd->require_subcommand(1);
  BenchIpcOptions bench_ipc;
  std::string bench_ipc_json;
  auto* ipc_cmd = bench_cmd->add_subcommand(
      "ipc", "Latency and throughput of each inter-process mechanism between two processes");
  ipc_cmd->add_option("--sizes", bench_ipc.sizes, "Message sizes, e.g. 64,1K,64K")->default_val("64,1K,64K");
  ipc_cmd->add_option("--seconds", bench_ipc.seconds, "Seconds per measurement and repetition")
      ->default_val(0.2);
  ipc_cmd->add_option("--repetitions", bench_ipc.repetitions, "Repetitions; the report is their median")
      ->default_val(3);
  ipc_cmd->add_option("--json", bench_ipc_json, "Write the results as JSON to this file ('-' for stdout)");
  ipc_cmd->add_option("--csv", bench_ipc.csv_path, "Write the results as CSV to this file");
  ipc_cmd->add_option("--plot", bench_ipc.plot_path, "Draw a bar chart to this .svg or .png file (gnuplot)");

  BenchSweepOptions bench_sweep;
  std::string bench_sweep_json;
  auto* sweep_cmd = bench_cmd->add_subcommand(
      "sweep", "Run a scenario over node counts x transports x parameter values on a local cluster");
  sweep_cmd->add_option("scenario", bench_sweep.scenario_path, "Scenario file (YAML)")->required();
  sweep_cmd->add_option("--nodes", bench_sweep.nodes, "Node counts, e.g. 1,2,4")->default_val("1,2,4");
  sweep_cmd->add_option("--transports", bench_sweep.transports, "Transports: shm, tcp or both")
      ->default_val("shm,tcp");
  sweep_cmd->add_option("--param", bench_sweep.param,
                        "One model parameter's values, e.g. remote_fraction=0.1,0.5");
  sweep_cmd
      ->add_option("--repetitions", bench_sweep.repetitions, "Runs per point; the report is their median")
      ->default_val(1);
  sweep_cmd->add_option("--json", bench_sweep_json,
                        "Write the results as JSON to this file ('-' for stdout)");
  sweep_cmd->add_option("--csv", bench_sweep.csv_path, "Write the results as CSV to this file");
  sweep_cmd->add_option("--plot", bench_sweep.plot_path,
                        "Draw bar charts to this .svg or .png file (gnuplot)");

  CoordinatorCommandOptions coordinator_options;
  auto* coordinator_cmd = app.add_subcommand("coordinator", "Serve as the coordinator");
  coordinator_cmd->add_option("--bind", coordinator_options.bind, "RPC endpoint to bind")
      ->default_val(kDefaultCoordinator);
  coordinator_cmd
      ->add_option("--heartbeat-interval", coordinator_options.heartbeat_interval_seconds,
                   "Seconds between node heartbeats")
      ->default_val(0.2)
      ->check(CLI::Range(0.01, 60.0));
  coordinator_cmd
      ->add_option("--node-timeout", coordinator_options.node_timeout_seconds,
                   "Seconds without a heartbeat before a node is lost")
      ->default_val(2.0)
      ->check(CLI::Range(0.05, 3600.0));
  coordinator_cmd
      ->add_option("--state-dir", coordinator_options.state_dir,
                   "Directory of the coordinator's database and checkpoints (created if missing)")
      ->envname("MESHSIM_STATE_DIR")
      ->default_val("meshsim-state");
  coordinator_cmd
      ->add_option("--recovery-grace", coordinator_options.recovery_grace_seconds,
                   "Seconds a job that lost a node waits for a replacement before restarting on fewer "
                   "nodes; also how long a restarted coordinator waits for running jobs' nodes")
      ->default_val(10.0)
      ->check(CLI::Range(0.0, 86400.0));

  coordinator_cmd
      ->add_option("--max-jobs", coordinator_options.max_jobs,
                   "Unfinished jobs (queued, running, recovering) accepted at once; more are refused")
      ->default_val(10000)
      ->check(CLI::Range(1, 10000000));

  auto add_metrics_options = [](CLI::App* command, std::string* port, std::string* host) {
    command
        ->add_option("--metrics-port", *port,
                     "Serve Prometheus /metrics on this port: 0 = off, auto = any free port")
        ->default_val("0");
    command->add_option("--metrics-host", *host, "Address the metrics server binds")
        ->default_val("127.0.0.1");
  };
  add_metrics_options(coordinator_cmd, &coordinator_options.metrics_port, &coordinator_options.metrics_host);

  NodeCommandOptions node_options;
  auto* node_cmd = app.add_subcommand("node", "Serve as a node");
  AddCoordinatorOption(node_cmd, &node_options.coordinator);
  node_cmd
      ->add_option("--name", node_options.name, "Name shown in `meshsim nodes` (default: <hostname>-<pid>)")
      ->envname("MESHSIM_NODE_NAME");
  node_cmd->add_option("--rpc-bind", node_options.rpc_bind, "Node RPC endpoint to bind")
      ->default_val("tcp://127.0.0.1:0");
  node_cmd->add_option("--data-bind", node_options.data_bind, "Data-plane endpoint to bind")
      ->default_val("tcp://127.0.0.1:0");
  node_cmd
      ->add_option("--advertise-host", node_options.advertise_host,
                   "Host the coordinator and peers reach this node at (default: the bound host; for "
                   "0.0.0.0 the local address toward the coordinator)")
      ->envname("MESHSIM_ADVERTISE_HOST");
  add_metrics_options(node_cmd, &node_options.metrics_port, &node_options.metrics_host);
  node_cmd
      ->add_option("--stall-timeout", node_options.stall_timeout_seconds,
                   "Seconds without an expected frame before a job fails")
      ->default_val(30.0)
      ->check(CLI::Range(0.1, 86400.0));

  KeygenOptions keygen;
  auto* keygen_cmd =
      app.add_subcommand("keygen", "Create CURVE keys: a new cluster's, or one more with --name");
  keygen_cmd->add_option("dir", keygen.dir, "Key directory (created if missing)")->required();
  keygen_cmd->add_option("--name", keygen.name, "Add one key pair of this name (default: a whole new set)");
  keygen_cmd->add_option("--role", keygen.role, "The added key's role: node, admin or viewer")
      ->default_val("node");
  keygen_cmd->add_flag(
      "--if-missing", keygen.if_missing,
      "Do nothing when the directory has a coordinator key already (a deployment's first start)");

  HostCommandOptions host_options;
  auto* host_cmd = app.add_subcommand(
      "host", "Serve several nodes of one host as supervised children (they share its shared memory)");
  AddCoordinatorOption(host_cmd, &host_options.coordinator);
  host_cmd->add_option("--nodes", host_options.nodes, "Node processes on this host")
      ->envname("MESHSIM_HOST_NODES")
      ->default_val(2)
      ->check(CLI::Range(1, 64));
  host_cmd
      ->add_option("--name-prefix", host_options.name_prefix,
                   "Nodes are named <prefix>-1..N (default: the hostname)")
      ->envname("MESHSIM_HOST_NAME");
  host_cmd->add_option("--bind-host", host_options.bind_host, "Address the nodes bind RPC and data ports on")
      ->default_val("127.0.0.1");
  host_cmd
      ->add_option("--advertise-host", host_options.advertise_host,
                   "Host the coordinator and peers reach the nodes at (default: each node finds its own)")
      ->envname("MESHSIM_ADVERTISE_HOST");
  add_metrics_options(host_cmd, &host_options.metrics_port, &host_options.metrics_host);
  host_cmd
      ->add_option("--stall-timeout", host_options.stall_timeout_seconds,
                   "Seconds without an expected frame before a job fails")
      ->default_val(30.0)
      ->check(CLI::Range(0.1, 86400.0));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }

  if (auto status = log::ParseFormat(log_format, &global.log.format); !status.ok()) {
    fmt::print(stderr, "meshsim: {}\n", status.message());
    return kExitBadInput;
  }
  CLI::App* chosen = app.get_subcommands().front();
  global.log.process = chosen->get_name();
  if (chosen == node_cmd && !node_options.name.empty()) global.log.process = node_options.name;
  if (chosen == host_cmd && !host_options.name_prefix.empty()) global.log.process = host_options.name_prefix;
  if (auto status = log::Init(global.log); !status.ok()) {
    fmt::print(stderr, "meshsim: {}\n", status.message());
    return kExitBadInput;
  }

  // Plugins load after logging is set up (each says what it loaded or
  // refused) and before any command looks a model up. Child processes
  // (meshsim run, meshsim host) inherit the same path through the
  // environment.
  const std::vector<std::string> model_path =
      global.model_path.empty() ? sim::DefaultModelPath() : sim::SplitModelPath(global.model_path);
  const sim::PluginLoadResult plugins = sim::LoadModelPlugins(model_path, sim::ModelRegistry::Global());
  // Servers say which plugins they run; a client command stays quiet.
  const bool serves =
      chosen == coordinator_cmd || chosen == node_cmd || chosen == host_cmd || chosen == run_cmd;
  for (const std::string& loaded : plugins.loaded) {
    spdlog::log(serves ? spdlog::level::info : spdlog::level::debug, "model plugin {}", loaded);
  }
  setenv("MESHSIM_MODEL_PATH", absl::StrJoin(model_path, ":").c_str(), 1);

  auto json_target = [&](const std::string& path) {
    global.json = path == "-";
    return path == "-" ? std::string() : path;
  };
  if (chosen == bench_cmd) {
    CLI::App* mode = bench_cmd->get_subcommands().front();
    if (mode == ipc_cmd) {
      bench_ipc.json_path = json_target(bench_ipc_json);
      return BenchIpc(global, bench_ipc);
    }
    bench_sweep.json_path = json_target(bench_sweep_json);
    return BenchSweep(global, bench_sweep);
  }
  if (chosen == run_cmd) {
    run.json_path = json_target(run_json);
    return RunLocal(global, run);
  }
  if (chosen == submit_cmd) {
    submit.json_path = json_target(submit_json);
    return Submit(global, submit);
  }
  if (chosen == status_cmd) return Status(global, coordinator, job_id, status_csv, status_plot);
  if (chosen == cancel_cmd) return Cancel(global, coordinator, job_id);
  if (chosen == nodes_cmd) return Nodes(global, coordinator);
  if (chosen == models_cmd) return Models(global);
  if (chosen == validate_cmd) return Validate(global, validate_path, validate_nodes);
  if (chosen == coordinator_cmd) return ServeCoordinator(global, coordinator_options);
  if (chosen == node_cmd) return ServeNode(global, node_options);
  if (chosen == host_cmd) return ServeHost(global, host_options);
  if (chosen == keygen_cmd) return Keygen(global, keygen);
  return kExitBadInput;
}

}  // namespace meshsim::cli
