// `meshsim nodes`: the nodes the coordinator knows.
#include "cli/commands/commands.h"
#include "cli/job_client.h"
#include "cli/output.h"
#include "common/strings/format.h"
#include "fmt/format.h"

namespace meshsim::cli {
namespace {

int Nodes(const GlobalOptions& global, const std::string& coordinator) {
  v1::ListNodesReply reply;
  if (auto status =
          CallCoordinator(global, coordinator, "Coordinator.ListNodes", v1::ListNodesRequest(), &reply);
      !status.ok()) {
    return FailWith(status);
  }
  if (global.json) {
    fmt::print("{}\n", NodesJson(reply).dump(2));
  } else {
    PrintNodes(stdout, reply);
  }
  return kExitOk;
}

}  // namespace

Command AddNodesCommand(CLI::App& parent, GlobalOptions& global) {
  auto coordinator = std::make_shared<std::string>();
  CLI::App* app = parent.add_subcommand("nodes", "List the nodes the coordinator knows");
  AddCoordinatorOption(*app, *coordinator);
  AddJsonFlag(*app, global);
  return {.app = app,
          .run = [coordinator](const GlobalOptions& global) { return Nodes(global, *coordinator); }};
}
}  // namespace meshsim::cli
