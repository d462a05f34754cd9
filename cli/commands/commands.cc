#include "cli/commands/commands.h"

#include "common/strings/format.h"

namespace meshsim::cli {

std::vector<CommandFactory> CoreCommands() {
  // The order of `meshsim --help`.
  return {AddRunCommand,   AddSubmitCommand, AddStatusCommand,   AddCancelCommand,
          AddNodesCommand, AddModelsCommand, AddValidateCommand, AddCoordinatorCommand,
          AddNodeCommand,  AddKeygenCommand, AddHostCommand};
}

}  // namespace meshsim::cli
