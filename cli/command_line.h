// The meshsim command line: global options, every registered command, and
// the dispatch to the one given. Main is what cli/main.cc calls.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "cli/command.h"

namespace meshsim::cli {

class CommandLine {
 public:
  explicit CommandLine(std::span<const CommandFactory> commands);
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // The command the arguments choose, or the exit code when parsing ends
  // the program (--help: kExitOk; a bad argument: kExitBadInput, with
  // CLI11's message on stderr).
  std::variant<const Command*, int> Parse(int argc, const char* const* argv);

  // After Parse: the options before the subcommand, with the log format
  // and process name filled in.
  GlobalOptions& global() { return *global_; }
  // After Parse: sets up logging and loads the model plugins, then runs
  // the chosen command.
  int Run(const Command& command);

 private:
  std::unique_ptr<GlobalOptions> global_ = std::make_unique<GlobalOptions>();
  std::string log_format_ = "text";
  CLI::App app_;
  std::vector<Command> commands_;
};

// Builds the command line of `commands`, parses argv and runs the command.
int Main(int argc, char** argv, std::span<const CommandFactory> commands);

}  // namespace meshsim::cli
