// `meshsim models`: the models this process has (built in and plugins) and
// their parameters.
#include "cli/commands/commands.h"
#include "common/sim/model_registry.h"
#include "common/strings/format.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace meshsim::cli {
namespace {

int Models(const GlobalOptions& global) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto* model : sim::ModelRegistry::Global().List()) {
    nlohmann::json params = nlohmann::json::array();
    const sim::ModelBuild& build = *sim::ModelRegistry::Global().FindBuild(model->name);
    if (!global.json) {
      fmt::print("{}: {}\n  version {}, build {}, {}\n", model->name, model->description, build.version,
                 build.fingerprint, build.origin);
    }
    for (const auto& p : model->params) {
      const bool integer = p.kind == sim::ParamSpec::Kind::kInteger;
      params.push_back({{"name", p.name},
                        {"type", integer ? "integer" : "real"},
                        {"min", p.min},
                        {"max", p.max},
                        {"default", p.default_value},
                        {"help", p.help}});
      if (!global.json) {
        fmt::print("  {:<16} {:<8} default {:<8} [{:g}, {:g}]  {}\n", p.name, integer ? "integer" : "real",
                   fmt::format("{:g}", p.default_value), p.min, p.max, p.help);
      }
    }
    out.push_back({{"name", model->name},
                   {"description", model->description},
                   {"version", build.version},
                   {"fingerprint", build.fingerprint},
                   {"origin", build.origin},
                   {"params", params}});
  }
  if (global.json) fmt::print("{}\n", out.dump(2));
  return kExitOk;
}

}  // namespace

Command AddModelsCommand(CLI::App& parent, GlobalOptions& global) {
  CLI::App* app = parent.add_subcommand("models", "List the models and their parameters");
  AddJsonFlag(*app, global);
  return {.app = app, .run = Models};
}
}  // namespace meshsim::cli
