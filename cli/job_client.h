// Client-side helpers of the commands that talk to a coordinator: connect
// and call it, load a scenario, follow a job to the end with a progress
// bar, and print the result.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "cli/command.h"
#include "common/rpc/rpc_client.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::cli {

// Makes SIGINT and SIGTERM set the returned flag instead of ending the
// process (so a followed job is cancelled, not orphaned); ignores SIGPIPE.
const std::atomic<bool>& CatchInterrupts();

// A client of the coordinator at `endpoint`, with this process's keys.
[[nodiscard]] absl::StatusOr<std::unique_ptr<rpc::RpcClient>> ConnectToCoordinator(
    const GlobalOptions& global, zmq::context_t& context, const std::string& endpoint);

// One call to the coordinator, for commands that make exactly one.
[[nodiscard]] absl::Status CallCoordinator(const GlobalOptions& global, const std::string& endpoint,
                                           std::string_view method, const google::protobuf::Message& request,
                                           google::protobuf::Message* reply);

// What the command line changes in a scenario file: --nodes, --sync.
struct ScenarioOverrides {
  std::optional<uint32_t> nodes;
  std::optional<v1::Sync> sync;
};
// Adds --nodes and --sync to `app`.
void AddScenarioOverrideOptions(CLI::App& app, ScenarioOverrides& overrides, std::string_view nodes_help);

// Loads and validates a scenario file, applying the overrides.
[[nodiscard]] absl::StatusOr<v1::Scenario> LoadScenario(const std::string& path,
                                                        const ScenarioOverrides& overrides);

// Polls the job until it ends, drawing progress. If `interrupted` becomes
// true, cancels the job and keeps following it to CANCELLED.
[[nodiscard]] absl::StatusOr<v1::JobInfo> FollowJob(rpc::RpcClient& client, uint64_t job_id,
                                                    const std::atomic<bool>* interrupted);

// Files a finished job is written to, each when set.
struct JobOutputs {
  std::string json_path;  // the JSON result
  std::string csv_path;   // the model's time series
  std::string plot_path;  // .svg or .png: series, events per node, bytes per link
};

// Checks, before a run that could not produce them starts: INVALID_ARGUMENT
// naming --csv when the scenario's model reports no time series, and naming
// --plot for a bad extension; FAILED_PRECONDITION when gnuplot is missing.
[[nodiscard]] absl::Status CheckOutputsWanted(const v1::Scenario& scenario, const JobOutputs& outputs);

// Prints the job (table or JSON per `global`), writes the outputs that are
// set, and returns the exit code for its state.
int ReportJob(const GlobalOptions& global, const v1::JobInfo& job, const JobOutputs& outputs);

}  // namespace meshsim::cli
