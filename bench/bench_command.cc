#include "bench/bench_command.h"

namespace meshsim::bench {

cli::Command AddBenchCommand(CLI::App& parent, cli::GlobalOptions& global) {
  CLI::App* app = parent.add_subcommand("bench", "Measure: IPC mechanisms side by side, or a grid of runs");
  app->require_subcommand(1);
  return {.app = app, .children = {AddIpcCommand(*app, global), AddSweepCommand(*app, global)}};
}

}  // namespace meshsim::bench
