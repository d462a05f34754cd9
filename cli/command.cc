#include "cli/command.h"

namespace meshsim::cli {

void AddCoordinatorOption(CLI::App& command, std::string& endpoint) {
  command.add_option("--coordinator", endpoint, "Coordinator RPC endpoint")
      ->envname("MESHSIM_COORDINATOR")
      ->default_val(kDefaultCoordinator);
}

void AddJsonFlag(CLI::App& command, GlobalOptions& global) {
  command.add_flag("--json", global.json, "Print machine-readable JSON on stdout");
}

void AddJsonFileOption(CLI::App& command, std::string& target, const std::string& help) {
  command.add_option("--json", target, help);
}

void AddJobOutputOptions(CLI::App& command, std::string& json_target, std::string& csv_path,
                         std::string& plot_path) {
  AddJsonFileOption(command, json_target);
  command.add_option("--csv", csv_path, "Write the model's time series to this CSV file");
  command.add_option(
      "--plot", plot_path,
      "Draw the time series, events per node and bytes per link to this .svg or .png (gnuplot)");
}

void AddMetricsOptions(CLI::App& command, std::string& port, std::string& host) {
  command
      .add_option("--metrics-port", port,
                  "Serve Prometheus /metrics on this port: 0 = off, auto = any free port")
      ->default_val("0");
  command.add_option("--metrics-host", host, "Address the metrics server binds")->default_val("127.0.0.1");
}

void AddStallTimeoutOption(CLI::App& command, double& seconds) {
  command.add_option("--stall-timeout", seconds, "Seconds without an expected frame before a job fails")
      ->default_val(30.0)
      ->check(CLI::Range(0.1, 86400.0));
}

GlobalOptions JsonTarget(const GlobalOptions& global, const std::string& target, std::string& path) {
  GlobalOptions with_target = global;
  with_target.json = target == "-";
  path = target == "-" ? std::string() : target;
  return with_target;
}

}  // namespace meshsim::cli
