// `meshsim status JOB`: a job's state and result, and for a finished one
// its series as CSV or a plot.
#include "cli/commands/commands.h"
#include "cli/job_client.h"
#include "cli/output.h"
#include "cli/plot.h"
#include "common/strings/format.h"

namespace meshsim::cli {
namespace {

struct StatusOptions {
  std::string coordinator;
  uint64_t job_id = 0;
  std::string csv_path;
  std::string plot_path;
};

int Status(const GlobalOptions& global, const StatusOptions& options) {
  const std::string& coordinator = options.coordinator;
  const uint64_t job_id = options.job_id;
  const std::string& csv_path = options.csv_path;
  const std::string& plot_path = options.plot_path;
  if (!plot_path.empty()) {
    if (auto status = CheckPlotTarget(plot_path); !status.ok()) return FailWith(status);
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

}  // namespace

Command AddStatusCommand(CLI::App& parent, GlobalOptions& global) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* app = parent.add_subcommand("status", "Show a job's state and result");
  app->add_option("job", options->job_id, "Job id")->required();
  app->add_option("--csv", options->csv_path, "Write the finished job's time series to this CSV file");
  app->add_option("--plot", options->plot_path,
                  "Draw the finished job's series, events per node and bytes per link (.svg or .png)");
  AddCoordinatorOption(*app, options->coordinator);
  AddJsonFlag(*app, global);
  return {.app = app, .run = [options](const GlobalOptions& global) { return Status(global, *options); }};
}
}  // namespace meshsim::cli
