// The Coordinator service's node membership: registration, heartbeats,
// the node list and a node leaving.
#include <algorithm>

#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "coordinator/internal/job_states.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {

absl::StatusOr<Coordinator::NodeRecord*> Coordinator::RecordForRegistration(
    const v1::RegisterNodeRequest& request) {
  for (auto& [id, node] : nodes_) {
    if (node.info.rpc_endpoint() == request.rpc_endpoint()) return &node;
  }
  // A node coming back to a restarted coordinator keeps its id, so the
  // jobs that list it still name it.
  const uint32_t previous = request.previous_node_id();
  const bool reuse = previous != 0 && previous < next_node_id_ && !nodes_.contains(previous);
  const uint32_t id = reuse ? previous : next_node_id_++;
  if (!reuse) {
    if (auto status = store_->SaveCounter("next_node_id", next_node_id_); !status.ok()) {
      --next_node_id_;
      return Annotate(status, "cannot register a node");
    }
  }
  NodeRecord* record = &nodes_[id];
  record->info.set_node_id(id);
  spdlog::info("node {} {}: {} (pid {}) rpc {} data {}", id, reuse ? "is back" : "joined", request.name(),
               request.pid(), request.rpc_endpoint(), request.data_endpoint());
  return record;
}

absl::Status Coordinator::HandleRegisterNode(const v1::RegisterNodeRequest& request,
                                             v1::RegisterNodeReply* reply) {
  if (request.rpc_endpoint().empty() || request.data_endpoint().empty()) {
    return absl::InvalidArgumentError("rpc_endpoint and data_endpoint are required");
  }
  std::lock_guard lock(mutex_);
  MESHSIM_ASSIGN_OR_RETURN(NodeRecord * record, RecordForRegistration(request));
  record->info.set_name(request.name());
  record->info.set_rpc_endpoint(request.rpc_endpoint());
  record->info.set_data_endpoint(request.data_endpoint());
  record->info.set_pid(request.pid());
  record->info.set_probe_name(request.probe_name());
  record->info.set_probe_token(request.probe_token());
  record->info.set_memory_bytes(request.memory_bytes());
  record->info.set_memory_source(request.memory_source());
  // With keys, the key this node proved it holds: the coordinator calls
  // it with that key, and its peers accept its frames by it.
  record->info.set_public_key(rpc::CallerKey());
  record->info.set_state(v1::NODE_READY);
  record->info.set_job_id(0);
  record->attempt = 0;
  record->last_heartbeat = SteadyClock::now();
  if (request.job_id() != 0) {
    // The node still holds a job: it is BUSY with it until a heartbeat
    // shows it idle, whether it carries on or lets it go.
    record->info.set_state(v1::NODE_BUSY);
    record->info.set_job_id(request.job_id());
    record->attempt = request.attempt();
    auto job = jobs_.find(request.job_id());
    const bool carries_on = job != jobs_.end() && job->second.info.state() == v1::RUNNING &&
                            HoldsCurrentAttempt(*record, job->second) &&
                            std::ranges::count(job->second.info.assigned_nodes(), record->info.node_id()) > 0;
    reply->set_drop_job(!carries_on);
    spdlog::info("node {}: {} job {} attempt {}", record->info.node_id(),
                 carries_on ? "carries on with" : "is told to drop", request.job_id(), request.attempt());
  }
  reply->set_node_id(record->info.node_id());
  reply->set_heartbeat_interval_seconds(std::chrono::duration<double>(options_.heartbeat_interval).count());
  wake_scheduler_.notify_all();
  return absl::OkStatus();
}

absl::Status Coordinator::HandleHeartbeat(const v1::HeartbeatRequest& request, v1::HeartbeatReply* reply) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(request.node_id());
  reply->set_known(it != nodes_.end());
  if (it == nodes_.end()) return absl::OkStatus();
  NodeRecord& node = it->second;
  node.last_heartbeat = SteadyClock::now();
  node.info.set_frames_dropped(request.frames_dropped());
  node.info.set_rpc_malformed(request.rpc_malformed());
  if (node.info.state() == v1::NODE_LOST) {
    spdlog::info("node {} is back", node.info.node_id());
    node.info.set_state(v1::NODE_BUSY);  // released below once idle
  }
  auto job = jobs_.find(node.info.job_id());
  const bool current = job != jobs_.end() && HoldsCurrentAttempt(node, job->second) &&
                       (job->second.info.state() == v1::ASSIGNING || job->second.info.state() == v1::RUNNING);
  if (request.job_id() != 0) {
    const bool holds_current =
        current && request.job_id() == node.info.job_id() && request.attempt() == node.attempt;
    reply->set_drop_job(!holds_current);
    if (holds_current) {
      node.virtual_time = request.virtual_time();
      node.committed_events = request.committed_events();
      job->second.info.set_window(std::max(job->second.info.window(), request.window()));
    }
  } else if (node.info.state() == v1::NODE_BUSY && !current) {
    node.info.set_state(v1::NODE_READY);
    node.info.set_job_id(0);
    node.attempt = 0;
    wake_scheduler_.notify_all();
  }
  return absl::OkStatus();
}

absl::Status Coordinator::HandleListNodes(const v1::ListNodesRequest&, v1::ListNodesReply* reply) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, node] : nodes_) {
    v1::NodeInfo* info = reply->add_nodes();
    *info = node.info;
    info->set_last_heartbeat_age_seconds(SecondsSince(node.last_heartbeat));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::HandleLeaveNode(const v1::LeaveNodeRequest& request, v1::LeaveNodeReply*) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(request.node_id());
  if (it == nodes_.end()) return absl::OkStatus();  // already gone: a repeated goodbye
  const std::string name = it->second.info.name();
  spdlog::info("node {} ({}) left: {}", request.node_id(), name, request.reason());
  const uint64_t job_id = it->second.info.job_id();
  auto job = jobs_.find(job_id);
  const bool held = job != jobs_.end() && HoldsCurrentAttempt(it->second, job->second);
  nodes_.erase(it);
  node_left_ = true;
  if (held) LoseNode(job_id, StrCat("node ", request.node_id(), " (", name, ") left: ", request.reason()));
  wake_scheduler_.notify_all();
  return absl::OkStatus();
}

}  // namespace meshsim::coordinator
