// `meshsim cancel JOB`: cancel a queued or running job.
#include "cli/commands/commands.h"
#include "cli/job_client.h"
#include "cli/output.h"
#include "common/strings/format.h"

namespace meshsim::cli {
namespace {

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

}  // namespace

Command AddCancelCommand(CLI::App& parent, GlobalOptions& global) {
  struct Options {
    std::string coordinator;
    uint64_t job_id = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("cancel", "Cancel a queued or running job");
  app->add_option("job", options->job_id, "Job id")->required();
  AddCoordinatorOption(*app, options->coordinator);
  AddJsonFlag(*app, global);
  return {.app = app, .run = [options](const GlobalOptions& global) {
            return Cancel(global, options->coordinator, options->job_id);
          }};
}
}  // namespace meshsim::cli
