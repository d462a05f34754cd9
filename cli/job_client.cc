#include "cli/job_client.h"

#include <signal.h>

#include <fstream>
#include <thread>

#include "cli/keys.h"
#include "cli/output.h"
#include "cli/plot.h"
#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "meshsim/model.h"

namespace meshsim::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

}  // namespace

const std::atomic<bool>& CatchInterrupts() {
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return g_interrupted;
}

absl::StatusOr<std::unique_ptr<rpc::RpcClient>> ConnectToCoordinator(const GlobalOptions& global,
                                                                     zmq::context_t& context,
                                                                     const std::string& endpoint) {
  MESHSIM_ASSIGN_OR_RETURN(auto keys, LoadKeys(global, "client"));
  return rpc::RpcClient::Create(context, rpc::ClientOptions(endpoint, keys.get()));
}

absl::Status CallCoordinator(const GlobalOptions& global, const std::string& endpoint,
                             std::string_view method, const google::protobuf::Message& request,
                             google::protobuf::Message* reply) {
  zmq::context_t context;
  auto client = ConnectToCoordinator(global, context, endpoint);
  if (!client.ok()) return client.status();
  return (*client)->Call(method, request, reply);
}

void AddScenarioOverrideOptions(CLI::App& app, ScenarioOverrides& overrides, std::string_view nodes_help) {
  app.add_option("--nodes", overrides.nodes, std::string(nodes_help));
  const std::map<std::string, v1::Sync> syncs = {
      {"conservative", v1::SYNC_CONSERVATIVE}, {"optimistic", v1::SYNC_OPTIMISTIC}, {"auto", v1::SYNC_AUTO}};
  app.add_option("--sync", overrides.sync,
                 "Synchronization: conservative, optimistic or auto (default: the scenario's)")
      ->transform(CLI::CheckedTransformer(syncs, CLI::ignore_case));
}

absl::StatusOr<v1::Scenario> LoadScenario(const std::string& path, const ScenarioOverrides& overrides) {
  MESHSIM_ASSIGN_OR_RETURN(v1::Scenario scenario, scenario::LoadFile(path));
  if (!overrides.nodes && !overrides.sync) return scenario;
  if (const auto nodes = overrides.nodes) {
    if (*nodes < 1 || *nodes > scenario::kMaxNodes) {
      return absl::InvalidArgumentError(
          StrCat("--nodes: must be between 1 and ", scenario::kMaxNodes, ", got ", *nodes));
    }
    scenario.set_nodes(*nodes);
  }
  if (overrides.sync) scenario.set_sync(*overrides.sync);
  MESHSIM_RETURN_IF_ERROR(Annotate(scenario::Normalize(&scenario), path));
  return scenario;
}

absl::StatusOr<v1::JobInfo> FollowJob(rpc::RpcClient& client, uint64_t job_id,
                                      const std::atomic<bool>* interrupted) {
  ProgressBar progress;
  bool cancel_sent = false;
  for (;;) {
    if (interrupted != nullptr && interrupted->load() && !cancel_sent) {
      progress.Clear();
      fmt::print(stderr, "interrupted: cancelling job {}\n", job_id);
      v1::CancelJobRequest request;
      request.set_job_id(job_id);
      v1::CancelJobReply reply;
      MESHSIM_RETURN_IF_ERROR(client.Call("Coordinator.CancelJob", request, &reply));
      cancel_sent = true;
    }
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    v1::GetJobReply reply;
    MESHSIM_RETURN_IF_ERROR(client.Call("Coordinator.GetJob", request, &reply));
    const v1::JobInfo& job = reply.job();
    if (job.state() == v1::COMPLETED || job.state() == v1::FAILED || job.state() == v1::CANCELLED) {
      progress.Clear();
      return job;
    }
    progress.Update(job);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::Status CheckOutputsWanted(const v1::Scenario& scenario, const JobOutputs& outputs) {
  if (!outputs.plot_path.empty()) MESHSIM_RETURN_IF_ERROR(CheckPlotTarget(outputs.plot_path));
  if (outputs.csv_path.empty()) return absl::OkStatus();
  const sim::ModelInfo* info = sim::ModelRegistry::Global().Find(scenario.model());
  if (info == nullptr) return absl::OkStatus();  // the scenario check names it
  MESHSIM_ASSIGN_OR_RETURN(auto model, sim::CreateModel(*info, scenario::ModelContextOf(scenario)));
  if (model->series().names.empty()) {
    return absl::InvalidArgumentError(
        StrCat("--csv: model '", scenario.model(), "' reports no time series; see --json for its result"));
  }
  return absl::OkStatus();
}

int ReportJob(const GlobalOptions& global, const v1::JobInfo& job, const JobOutputs& outputs) {
  ShowJob(global.json, job);
  if (!outputs.json_path.empty()) {
    if (auto status = WriteTextFile(outputs.json_path, JobJson(job).dump(2) + "\n"); !status.ok()) {
      return FailWith(status);
    }
  }
  if (!outputs.csv_path.empty() && job.state() == v1::COMPLETED) {
    if (auto status = WriteSeriesCsv(job.result(), outputs.csv_path); !status.ok()) return FailWith(status);
  }
  if (!outputs.plot_path.empty() && job.state() == v1::COMPLETED) {
    if (auto status = PlotJob(job, outputs.plot_path); !status.ok()) return FailWith(status);
  }
  return job.state() == v1::COMPLETED ? kExitOk : kExitFailed;
}

}  // namespace meshsim::cli
