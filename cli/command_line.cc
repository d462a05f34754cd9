#include "cli/command_line.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_join.h"
#include "common/sim/model_plugins.h"
#include "common/strings/format.h"
#include "fmt/format.h"
#include "models/builtin.h"
#include "spdlog/spdlog.h"

namespace meshsim::cli {
namespace {

// The command of `list` that `app` is, looking into groups; null if none.
const Command* Chosen(const std::vector<Command>& list, const CLI::App* app) {
  for (const Command& command : list) {
    if (command.app != app) continue;
    if (command.children.empty()) return &command;
    return Chosen(command.children, command.app->get_subcommands().front());
  }
  return nullptr;
}

void AddGlobalOptions(CLI::App& app, GlobalOptions& global, std::string& log_format) {
  app.add_option("--log-level", global.log.level, "trace, debug, info, warn, error, critical, off")
      ->default_val("info");
  app.add_option("--log-format", log_format, "text or json")->default_val("text");
  app.add_option("--keys", global.keys_dir,
                 "Directory of CURVE keys (meshsim keygen): authenticate and encrypt RPC and data")
      ->envname("MESHSIM_KEYS");
  app.add_option("--identity", global.identity,
                 "Which key pair of --keys to use (default: coordinator, node, or admin/viewer for clients)");
  app.add_option("--model-path", global.model_path,
                 "Directories of model plugins, colon-separated (default: <prefix>/lib/meshsim/models)")
      ->envname("MESHSIM_MODEL_PATH");
  app.add_flag("--insecure", global.insecure,
               "Serve on a non-loopback address without keys (only on a network you trust)");
}

}  // namespace

CommandLine::CommandLine(std::span<const CommandFactory> commands)
    : app_("meshsim: distributed discrete-event simulation") {
  app_.require_subcommand(1);
  app_.fallthrough();
  AddGlobalOptions(app_, *global_, log_format_);
  for (CommandFactory factory : commands) commands_.push_back(factory(app_, *global_));
}

std::variant<const Command*, int> CommandLine::Parse(int argc, const char* const* argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app_.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  if (auto status = log::ParseFormat(log_format_, &global_->log.format); !status.ok()) {
    fmt::print(stderr, "meshsim: {}\n", status.message());
    return kExitBadInput;
  }
  const Command* chosen = Chosen(commands_, app_.get_subcommands().front());
  if (chosen == nullptr) return kExitBadInput;
  global_->log.process = chosen->process_name ? chosen->process_name() : std::string();
  if (global_->log.process.empty()) global_->log.process = app_.get_subcommands().front()->get_name();
  return chosen;
}

int CommandLine::Run(const Command& command) {
  if (auto status = log::Init(global_->log); !status.ok()) {
    fmt::print(stderr, "meshsim: {}\n", status.message());
    return kExitBadInput;
  }
  // Plugins load after logging is set up (each says what it loaded or
  // refused) and before any command looks a model up. Child processes
  // (meshsim run, meshsim host) inherit the same path through the
  // environment.
  const std::vector<std::string> model_path =
      global_->model_path.empty() ? sim::DefaultModelPath() : sim::SplitModelPath(global_->model_path);
  const sim::PluginLoadResult plugins = sim::LoadModelPlugins(model_path, sim::ModelRegistry::Global());
  for (const std::string& loaded : plugins.loaded) {
    spdlog::log(command.serves ? spdlog::level::info : spdlog::level::debug, "model plugin {}", loaded);
  }
  setenv("MESHSIM_MODEL_PATH", absl::StrJoin(model_path, ":").c_str(), 1);
  return command.run(*global_);
}

int Main(int argc, char** argv, std::span<const CommandFactory> commands) {
  models::RegisterBuiltinModels();
  CommandLine line(commands);
  const auto parsed = line.Parse(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  return line.Run(*std::get<const Command*>(parsed));
}

}  // namespace meshsim::cli
