// Subcommands that act as clients: run, submit, status, cancel, nodes,
// models, validate.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <thread>

#include "cli/bench/plot.h"
#include "cli/commands.h"
#include "cli/job_client.h"
#include "cli/local_cluster.h"
#include "cli/output.h"
#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "yaml-cpp/yaml.h"
#include "zmq.hpp"

namespace meshsim::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

void CatchInterrupts() {
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

absl::StatusOr<std::unique_ptr<rpc::RpcClient>> Connect(const GlobalOptions& global, zmq::context_t& context,
                                                        const std::string& endpoint) {
  MESHSIM_ASSIGN_OR_RETURN(auto keys, LoadKeys(global, "client"));
  return rpc::RpcClient::Create(context, rpc::ClientOptions(endpoint, keys.get()));
}

// One call to the coordinator, for commands that make exactly one.
absl::Status CallCoordinator(const GlobalOptions& global, const std::string& endpoint,
                             std::string_view method, const google::protobuf::Message& request,
                             google::protobuf::Message* reply) {
  zmq::context_t context;
  auto client = Connect(global, context, endpoint);
  if (!client.ok()) return client.status();
  return (*client)->Call(method, request, reply);
}

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

}  // namespace

int RunLocal(const GlobalOptions& global, const RunOptions& options) {
  auto scenario = LoadScenario(options.scenario_path, options.nodes);
  if (!scenario.ok()) return FailWith(scenario.status());
  const JobOutputs outputs{options.json_path, options.csv_path, options.plot_path};
  if (auto status = CheckOutputsWanted(*scenario, outputs); !status.ok()) return FailWith(status);
  CatchInterrupts();
  if (!global.json) {
    fmt::print(stderr, "meshsim: starting a local cluster of {} node(s) for {}\n", scenario->nodes(),
               scenario->name());
  }
  auto cluster = LocalCluster::Start({.executable = SelfExecutable(),
                                      .nodes = scenario->nodes(),
                                      .log_level = global.log.level,
                                      .log_format = global.log.format == log::Format::kJson ? "json" : "text",
                                      .show_logs = options.show_logs,
                                      .node_timeout_seconds = options.node_timeout_seconds,
                                      .metrics = options.metrics});
  if (!cluster.ok()) return FailWith(cluster.status());
  if (options.metrics) {
    // On stderr, so stdout stays the result (e.g. --json -).
    fmt::print(stderr, "meshsim: Prometheus metrics:\n");
    for (const auto& [name, url] : (*cluster)->metrics_urls()) fmt::print(stderr, "  {:<12} {}\n", name, url);
  }
  zmq::context_t context;
  GlobalOptions keyless = global;  // the local cluster has no keys
  keyless.keys_dir.clear();
  auto client = Connect(keyless, context, (*cluster)->coordinator_endpoint());
  if (!client.ok()) return FailWith(client.status());

  v1::SubmitJobRequest submit;
  *submit.mutable_scenario() = *scenario;
  v1::SubmitJobReply submitted;
  if (auto status = (*client)->Call("Coordinator.SubmitJob", submit, &submitted); !status.ok()) {
    return FailWith(status);
  }
  auto job = FollowJob(**client, submitted.job_id(), &g_interrupted);
  if (!job.ok()) {
    fmt::print(stderr, "meshsim: {}\n{}", job.status().message(), (*cluster)->DescribeExits());
    return kExitFailed;
  }
  int code = ReportJob(global, *job, outputs);
  if (job->state() == v1::FAILED) {
    const std::string exits = (*cluster)->DescribeExits();
    if (!exits.empty()) fmt::print(stderr, "{}", exits);
  }
  if (options.metrics && !g_interrupted.load()) {
    fmt::print(stderr, "meshsim: the cluster keeps serving its metrics; Ctrl-C stops it\n");
    while (!g_interrupted.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*cluster)->Stop();
    return code;
  }
  (*cluster)->Stop();
  return g_interrupted.load() ? kExitInterrupted : code;
}

int Submit(const GlobalOptions& global, const SubmitOptions& options) {
  v1::SubmitJobRequest request;
  if (auto text = TextOfScenarioForAModelNotHere(options.scenario_path)) {
    // A plugin model this machine does not have: the coordinator, which
    // has it, checks the scenario (with the same parser and messages).
    request.set_scenario_yaml(std::move(*text));
    request.set_nodes(options.nodes.value_or(0));
  } else {
    auto scenario = LoadScenario(options.scenario_path, options.nodes);
    if (!scenario.ok()) return FailWith(scenario.status());
    *request.mutable_scenario() = std::move(*scenario);
  }
  const JobOutputs outputs{options.json_path, options.csv_path, options.plot_path};
  if (auto status = CheckOutputsWanted(request.scenario(), outputs); !status.ok()) return FailWith(status);
  zmq::context_t context;
  auto client = Connect(global, context, options.coordinator);
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
  CatchInterrupts();
  auto job = FollowJob(**client, reply.job_id(), &g_interrupted);
  if (!job.ok()) return FailWith(job.status());
  const int code = ReportJob(global, *job, outputs);
  return g_interrupted.load() ? kExitInterrupted : code;
}

int Status(const GlobalOptions& global, const std::string& coordinator, uint64_t job_id,
           const std::string& csv_path, const std::string& plot_path) {
  if (!plot_path.empty()) {
    if (auto status = bench::CheckPlotTarget(plot_path); !status.ok()) return FailWith(status);
  }
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::GetJobReply reply;
  if (auto status = CallCoordinator(global, coordinator, "Coordinator.GetJob", request, &reply);
      !status.ok()) {
    return FailWith(status);
  }
  ShowJob(global.json, reply.job());
  if (!csv_path.empty()) {
    if (reply.job().state() != v1::COMPLETED) {
      return FailWith(absl::FailedPreconditionError(StrCat("--csv: job ", job_id, " has not completed")));
    }
    if (auto status = WriteSeriesCsv(reply.job().result(), csv_path); !status.ok()) {
      return FailWith(absl::InvalidArgumentError(StrCat("--csv: ", status.message())));
    }
  }
  if (!plot_path.empty()) {
    if (reply.job().state() != v1::COMPLETED) {
      return FailWith(absl::FailedPreconditionError(StrCat("--plot: job ", job_id, " has not completed")));
    }
    if (auto status = PlotJob(reply.job(), plot_path); !status.ok()) return FailWith(status);
  }
  return reply.job().state() == v1::FAILED ? kExitFailed : kExitOk;
}

int Cancel(const GlobalOptions& global, const std::string& coordinator, uint64_t job_id) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::CancelJobReply reply;
  if (auto status = CallCoordinator(global, coordinator, "Coordinator.CancelJob", request, &reply);
      !status.ok()) {
    return FailWith(status);
  }
  ShowJob(global.json, reply.job());
  return kExitOk;
}

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

int Validate(const GlobalOptions& global, const std::string& scenario_path, std::optional<uint32_t> nodes) {
  auto scenario = LoadScenario(scenario_path, nodes);
  if (!scenario.ok()) {
    fmt::print(stderr, "{}\n", scenario.status().message());
    return kExitBadInput;
  }
  if (global.json) {
    fmt::print("{}\n", nlohmann::json{{"valid", true}, {"scenario", JobJson([&] {
                                                          v1::JobInfo job;
                                                          *job.mutable_scenario() = *scenario;
                                                          return job;
                                                        }())["scenario"]}}
                           .dump(2));
  } else {
    fmt::print("{}: ok ({} model, {} nodes, end_time {}, lookahead {})\n", scenario_path, scenario->model(),
               scenario->nodes(), scenario->end_time(), scenario->lookahead());
  }
  return kExitOk;
}

}  // namespace meshsim::cli
