// How a `meshsim` subcommand is put together. Each command lives in a file
// of its own (cli/commands/, bench/) with one factory that adds the
// subcommand to the command line — its arguments, flags and help — and
// returns what runs it. Main (command_line.h) only parses and dispatches.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/log/log.h"

namespace meshsim::cli {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;         // the job failed, or a service is unreachable
inline constexpr int kExitBadInput = 2;       // bad arguments or scenario
inline constexpr int kExitInterrupted = 130;  // Ctrl-C (128 + SIGINT)

// The options before the subcommand, which every command sees.
struct GlobalOptions {
  log::Options log;
  bool json = false;       // machine-readable output on stdout
  std::string keys_dir;    // --keys / MESHSIM_KEYS: CURVE keys (docs/security.md)
  std::string identity;    // --identity: which pair of keys_dir to use
  bool insecure = false;   // --insecure: serve on non-loopback addresses without keys
  std::string model_path;  // --model-path / MESHSIM_MODEL_PATH: plugin directories, colon-separated
};

struct Command {
  CLI::App* app = nullptr;
  // Servers log the model plugins they load at info; client commands stay quiet.
  bool serves = false;
  // The process name in log lines when it is not the command's name (a
  // node's --name); empty for the command's name.
  std::function<std::string()> process_name = {};
  // Runs the parsed command; its exit code. Empty for a command that only
  // groups others (`bench`).
  std::function<int(const GlobalOptions&)> run = {};
  // Subcommands of a group; the parsed one runs.
  std::vector<Command> children = {};
};

// Adds one subcommand to `parent`. `global` outlives the command line; a
// command may bind flags to it (--json on the commands that print).
using CommandFactory = Command (*)(CLI::App& parent, GlobalOptions& global);

// The commands of meshsim itself (cli/commands/); the bench commands come
// from bench/ and are added by main.cc.
std::vector<CommandFactory> CoreCommands();

inline constexpr char kDefaultCoordinator[] = "tcp://127.0.0.1:7700";

// Flags several commands share, written once.
void AddCoordinatorOption(CLI::App& command, std::string& endpoint);
void AddJsonFlag(CLI::App& command, GlobalOptions& global);  // --json: JSON on stdout
// --json FILE, '-' for stdout: which `JsonTarget` turns into a path.
void AddJsonFileOption(CLI::App& command, std::string& target,
                       const std::string& help = "Write the JSON result to this file ('-' for stdout)");
// --json FILE, --csv FILE and --plot FILE of the commands that follow a job.
void AddJobOutputOptions(CLI::App& command, std::string& json_target, std::string& csv_path,
                         std::string& plot_path);
void AddMetricsOptions(CLI::App& command, std::string& port, std::string& host);
void AddStallTimeoutOption(CLI::App& command, double& seconds);  // nodes: --stall-timeout

// The global options for a command given `--json FILE`: json output on
// stdout when FILE is '-'; `path` becomes the file to write, if any.
GlobalOptions JsonTarget(const GlobalOptions& global, const std::string& target, std::string& path);

}  // namespace meshsim::cli
