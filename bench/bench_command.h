// `meshsim bench`: the measuring commands, built with the bench programs in
// this folder and added to the command line by cli/main.cc.
#pragma once

#include "cli/command.h"

namespace meshsim::bench {

// `meshsim bench` with its subcommands ipc and sweep.
cli::Command AddBenchCommand(CLI::App& parent, cli::GlobalOptions& global);

cli::Command AddIpcCommand(CLI::App& parent, cli::GlobalOptions& global);    // ipc/ipc_command.cc
cli::Command AddSweepCommand(CLI::App& parent, cli::GlobalOptions& global);  // sweep/sweep_command.cc

}  // namespace meshsim::bench
