// `meshsim submit`: a scenario to a running coordinator, then (unless
// --detach) followed to the end.
#include <fstream>
#include <optional>

#include "cli/commands/commands.h"
#include "cli/job_client.h"
#include "cli/output.h"
#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/strings/format.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"
#include "zmq.hpp"

namespace meshsim::cli {
namespace {

struct SubmitOptions {
  std::string coordinator;
  std::string scenario_path;
  ScenarioOverrides overrides;
  bool detach = false;
  std::string json_target;  // --json FILE, '-' for stdout
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
};

// The text of the scenario at `path` when its top-level `model:` names a
// model this process has not loaded (a plugin only the cluster has);
// nullopt otherwise, and for anything unreadable (LoadScenario reports it).
std::optional<std::string> TextOfScenarioForAModelNotHere(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text(scenario::kMaxScenarioBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.empty() || text.size() > scenario::kMaxScenarioBytes) return std::nullopt;
  std::string model;
  try {
    const YAML::Node root = YAML::Load(text);
    if (!root.IsMap() || !root["model"] || !root["model"].IsScalar()) return std::nullopt;
    model = root["model"].Scalar();
  } catch (const YAML::Exception&) {
    return std::nullopt;  // not YAML: LoadScenario says why
  }
  if (sim::ModelRegistry::Global().Find(model) != nullptr) return std::nullopt;
  return text;
}

int Submit(const GlobalOptions& global, const SubmitOptions& options) {
  v1::SubmitJobRequest request;
  if (auto text = TextOfScenarioForAModelNotHere(options.scenario_path)) {
    // A plugin model this machine does not have: the coordinator, which
    // has it, checks the scenario (with the same parser and messages).
    request.set_scenario_yaml(std::move(*text));
    request.set_nodes(options.overrides.nodes.value_or(0));
    request.set_sync(options.overrides.sync.value_or(v1::SYNC_UNSPECIFIED));
  } else {
    auto scenario = LoadScenario(options.scenario_path, options.overrides);
    if (!scenario.ok()) return FailWith(scenario.status());
    *request.mutable_scenario() = std::move(*scenario);
  }
  const JobOutputs outputs{options.json_path, options.csv_path, options.plot_path};
  if (auto status = CheckOutputsWanted(request.scenario(), outputs); !status.ok()) return FailWith(status);
  zmq::context_t context;
  auto client = ConnectToCoordinator(global, context, options.coordinator);
  if (!client.ok()) return FailWith(client.status());
  v1::SubmitJobReply reply;
  if (auto status = (*client)->Call("Coordinator.SubmitJob", request, &reply); !status.ok()) {
    return FailWith(status);
  }
  if (options.detach) {
    if (global.json) {
      fmt::print("{}\n", nlohmann::json{{"job_id", reply.job_id()}}.dump());
    } else {
      fmt::print("job {} submitted\n", reply.job_id());
    }
    return kExitOk;
  }
  const std::atomic<bool>& interrupted = CatchInterrupts();
  auto job = FollowJob(**client, reply.job_id(), &interrupted);
  if (!job.ok()) return FailWith(job.status());
  const int code = ReportJob(global, *job, outputs);
  return interrupted.load() ? kExitInterrupted : code;
}

}  // namespace

Command AddSubmitCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<SubmitOptions>();
  CLI::App* app = parent.add_subcommand("submit", "Submit a scenario to a running coordinator and wait");
  app->add_option("scenario", options->scenario_path, "Scenario file (YAML)")->required();
  AddCoordinatorOption(*app, options->coordinator);
  AddScenarioOverrideOptions(*app, options->overrides, "Number of nodes (default: the scenario's)");
  app->add_flag("--detach", options->detach, "Print the job id and return without waiting");
  AddJobOutputOptions(*app, options->json_target, options->csv_path, options->plot_path);
  return {.app = app, .run = [options](const GlobalOptions& global) {
            return Submit(JsonTarget(global, options->json_target, options->json_path), *options);
          }};
}
}  // namespace meshsim::cli
