// The Coordinator RPC service: each method bound to its handler, by the
// part of the service it belongs to (node membership in node_handlers.cc,
// jobs in job_handlers.cc, checkpoints in checkpoint_handlers.cc).
#include "coordinator/coordinator.h"

namespace meshsim::coordinator {

void Coordinator::RegisterHandlers() {
  RegisterNodeHandlers();
  RegisterJobHandlers();
  RegisterCheckpointHandlers();
}

void Coordinator::RegisterNodeHandlers() {
  Serve("Coordinator.RegisterNode", &Coordinator::HandleRegisterNode);
  Serve("Coordinator.Heartbeat", &Coordinator::HandleHeartbeat);
  Serve("Coordinator.ListNodes", &Coordinator::HandleListNodes);
  Serve("Coordinator.LeaveNode", &Coordinator::HandleLeaveNode);
}

void Coordinator::RegisterJobHandlers() {
  Serve("Coordinator.SubmitJob", &Coordinator::HandleSubmitJob);
  Serve("Coordinator.GetJob", &Coordinator::HandleGetJob);
  Serve("Coordinator.CancelJob", &Coordinator::HandleCancelJob);
  Serve("Coordinator.ListModels", &Coordinator::HandleListModels);
  Serve("Coordinator.ListJobs", &Coordinator::HandleListJobs);
  Serve("Coordinator.ReportJob", &Coordinator::HandleReportJob);
}

void Coordinator::RegisterCheckpointHandlers() {
  Serve("Coordinator.PutCheckpoint", &Coordinator::HandlePutCheckpoint);
  Serve("Coordinator.GetCheckpoint", &Coordinator::HandleGetCheckpoint);
}

}  // namespace meshsim::coordinator
