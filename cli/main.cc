#include "bench/bench_command.h"
#include "cli/command_line.h"

int main(int argc, char** argv) {
  std::vector<meshsim::cli::CommandFactory> commands = meshsim::cli::CoreCommands();
  commands.push_back(meshsim::bench::AddBenchCommand);
  return meshsim::cli::Main(argc, argv, commands);
}
