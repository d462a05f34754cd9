// The factories of meshsim's own subcommands, one per file of this folder.
#pragma once

#include "cli/command.h"

namespace meshsim::cli {

Command AddRunCommand(CLI::App& parent, GlobalOptions& global);
Command AddSubmitCommand(CLI::App& parent, GlobalOptions& global);
Command AddStatusCommand(CLI::App& parent, GlobalOptions& global);
Command AddCancelCommand(CLI::App& parent, GlobalOptions& global);
Command AddNodesCommand(CLI::App& parent, GlobalOptions& global);
Command AddModelsCommand(CLI::App& parent, GlobalOptions& global);
Command AddValidateCommand(CLI::App& parent, GlobalOptions& global);
Command AddCoordinatorCommand(CLI::App& parent, GlobalOptions& global);
Command AddNodeCommand(CLI::App& parent, GlobalOptions& global);
Command AddHostCommand(CLI::App& parent, GlobalOptions& global);
Command AddKeygenCommand(CLI::App& parent, GlobalOptions& global);

}  // namespace meshsim::cli
