// `meshsim validate FILE`: check a scenario without running it.
#include <optional>

#include "cli/commands/commands.h"
#include "cli/job_client.h"
#include "cli/output.h"
#include "common/scenario/scenario.h"
#include "common/strings/format.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace meshsim::cli {
namespace {

int Validate(const GlobalOptions& global, const std::string& scenario_path,
             const ScenarioOverrides& overrides) {
  auto scenario = LoadScenario(scenario_path, overrides);
  if (!scenario.ok()) {
    fmt::print(stderr, "{}\n", scenario.status().message());
    return kExitBadInput;
  }
  if (global.json) {
    fmt::print("{}\n", nlohmann::json{{"valid", true}, {"scenario", ScenarioJson(*scenario)}}.dump(2));
  } else {
    fmt::print("{}: ok ({} model, {} nodes, end_time {}, lookahead {}, {} sync)\n", scenario_path,
               scenario->model(), scenario->nodes(), scenario->end_time(), scenario->lookahead(),
               scenario::SyncName(scenario->sync()));
  }
  return kExitOk;
}

}  // namespace

Command AddValidateCommand(CLI::App& parent, GlobalOptions& global) {
  struct Options {
    std::string scenario_path;
    ScenarioOverrides overrides;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("validate", "Check a scenario file");
  app->add_option("scenario", options->scenario_path, "Scenario file (YAML)")->required();
  AddScenarioOverrideOptions(*app, options->overrides, "Check it for this many nodes");
  AddJsonFlag(*app, global);
  return {.app = app, .run = [options](const GlobalOptions& global) {
            return Validate(global, options->scenario_path, options->overrides);
          }};
}
}  // namespace meshsim::cli
