// `meshsim validate FILE`: check a scenario without running it.
#include <optional>

#include "cli/commands/commands.h"
#include "cli/job_client.h"
#include "cli/output.h"
#include "common/strings/format.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace meshsim::cli {
namespace {

int Validate(const GlobalOptions& global, const std::string& scenario_path, std::optional<uint32_t> nodes) {
  auto scenario = LoadScenario(scenario_path, nodes);
  if (!scenario.ok()) {
    fmt::print(stderr, "{}\n", scenario.status().message());
    return kExitBadInput;
  }
  if (global.json) {
    fmt::print("{}\n", nlohmann::json{{"valid", true}, {"scenario", ScenarioJson(*scenario)}}.dump(2));
  } else {
    fmt::print("{}: ok ({} model, {} nodes, end_time {}, lookahead {})\n", scenario_path, scenario->model(),
               scenario->nodes(), scenario->end_time(), scenario->lookahead());
  }
  return kExitOk;
}

}  // namespace

Command AddValidateCommand(CLI::App& parent, GlobalOptions& global) {
  struct Options {
    std::string scenario_path;
    std::optional<uint32_t> nodes;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("validate", "Check a scenario file");
  app->add_option("scenario", options->scenario_path, "Scenario file (YAML)")->required();
  app->add_option("--nodes", options->nodes, "Check it for this many nodes");
  AddJsonFlag(*app, global);
  return {.app = app, .run = [options](const GlobalOptions& global) {
            return Validate(global, options->scenario_path, options->nodes);
          }};
}
}  // namespace meshsim::cli
