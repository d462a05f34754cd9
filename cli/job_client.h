// Client-side job helpers shared by `run` and `submit`: load a scenario,
// submit it, follow it to the end with a progress bar, and print the result.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "cli/commands.h"
#include "common/rpc/rpc_client.h"
#include "proto/meshsim.pb.h"

namespace meshsim::cli {

// Loads and validates a scenario file, applying a --nodes override.
[[nodiscard]] absl::StatusOr<v1::Scenario> LoadScenario(const std::string& path,
                                                        std::optional<uint32_t> nodes);

// Polls the job until it ends, drawing progress. If `interrupted` becomes
// true, cancels the job and keeps following it to CANCELLED.
[[nodiscard]] absl::StatusOr<v1::JobInfo> FollowJob(rpc::RpcClient& client, uint64_t job_id,
                                                    const std::atomic<bool>* interrupted);

// INVALID_ARGUMENT naming --csv when the scenario's model reports no time
// series, so a run that could not produce the file is not started.
[[nodiscard]] absl::Status CheckSeriesWanted(const v1::Scenario& scenario, const std::string& csv_path);

// Prints the job (table or JSON per `global`), writes the JSON result to
// json_path and the time series to csv_path when set, and returns the exit
// code for its state.
int ReportJob(const GlobalOptions& global, const v1::JobInfo& job, const std::string& json_path,
              const std::string& csv_path);

}  // namespace meshsim::cli
