// How the meshsim command shows things: result tables, the --json result
// (a stable interface; see docs/cli.md), node lists and the progress bar.
#pragma once

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "common/strings/format.h"  // HumanBytes, which this header's users print with
#include "nlohmann/json.hpp"
#include "proto/meshsim.pb.h"

namespace meshsim::cli {

// The job as the stable JSON document of `run --json`, `submit --json` and
// `status --json`.
nlohmann::json JobJson(const v1::JobInfo& job);
// The scenario part of that document (also `validate --json`).
nlohmann::json ScenarioJson(const v1::Scenario& scenario);

// Draws a completed job (gnuplot, .svg or .png): the model's time series
// when it has them, the events each node processed, and the bytes each
// directed link carried, by transport.
[[nodiscard]] absl::Status PlotJob(const v1::JobInfo& job, const std::string& path);
nlohmann::json NodesJson(const v1::ListNodesReply& nodes);

// Writes the job's time series as CSV: a `time` column, then one column per
// series. FAILED_PRECONDITION when the job has none.
[[nodiscard]] absl::Status WriteSeriesCsv(const v1::JobResult& result, const std::string& path);

// A human-readable result table (or state and reason, if not completed).
void PrintJob(std::FILE* out, const v1::JobInfo& job);
void PrintNodes(std::FILE* out, const v1::ListNodesReply& nodes);

// The job on stdout: JSON when `json`, the table otherwise.
void ShowJob(bool json, const v1::JobInfo& job);

// Draws a one-line progress bar on stderr when it is a terminal; prints
// nothing otherwise, so logs and pipes stay clean.
class ProgressBar {
 public:
  ProgressBar();
  ~ProgressBar();
  void Update(const v1::JobInfo& job);
  void Clear();

 private:
  bool enabled_;
  bool drawn_ = false;
};

// Prints "meshsim: <message>" on stderr and returns the exit code for it:
// kExitBadInput for INVALID_ARGUMENT and NOT_FOUND, kExitFailed otherwise.
int FailWith(const absl::Status& status);

// Writes `text` to `path` (replacing it); nothing when `path` is empty (an
// output the user did not ask for). UNAVAILABLE if it cannot.
[[nodiscard]] absl::Status WriteTextFile(const std::string& path, const std::string& text);

std::string HumanCount(double value);

}  // namespace meshsim::cli
