#include "node/coordinator_session.h"

#include <unistd.h>

#include <random>

#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

// Registration retries back off exponentially with jitter, so nodes that
// lost a coordinator together do not return to it in lockstep.
constexpr Duration kFirstBackoff = std::chrono::milliseconds(100);
constexpr Duration kMaxBackoff = std::chrono::seconds(2);

}  // namespace

CoordinatorSession::CoordinatorSession(zmq::context_t& context, SessionIdentity identity,
                                       SessionOptions options, JobSlot& slot)
    : context_(&context), identity_(std::move(identity)), options_(std::move(options)), slot_(&slot) {}

void CoordinatorSession::Start(std::function<void(uint32_t)> on_registered) {
  on_registered_ = std::move(on_registered);
  thread_ = StartNamedThread("membership", [this] { Loop(); });
}

void CoordinatorSession::Stop() {
  stop_.store(true, std::memory_order_relaxed);
  if (!thread_.joinable()) return;
  thread_.join();
  std::lock_guard lock(mutex_);
  if (!reports_.empty()) {
    spdlog::warn("{} job reports not delivered to the coordinator (job {} first)", reports_.size(),
                 reports_.front().job_id());
  }
}

void CoordinatorSession::QueueReport(v1::ReportJobRequest report) {
  std::lock_guard lock(mutex_);
  reports_.push_back(std::move(report));
  report_queued_.store(true, std::memory_order_relaxed);
}

void CoordinatorSession::Leave(std::string_view reason) {
  if (node_id() == 0) return;  // never registered
  auto client = rpc::RpcClient::Create(*context_, options_.coordinator);
  v1::LeaveNodeRequest request;
  request.set_node_id(node_id());
  request.set_reason(std::string(reason));
  v1::LeaveNodeReply reply;
  const absl::Status status = client.ok() ? (*client)->Call("Coordinator.LeaveNode", request, &reply,
                                                            Deadline::After(std::chrono::milliseconds(500)))
                                          : client.status();
  if (status.ok()) {
    spdlog::info("left coordinator {} as node {}: {}", options_.coordinator.endpoint, node_id(), reason);
  } else {
    spdlog::warn("could not tell coordinator {} that node {} leaves: {}", options_.coordinator.endpoint,
                 node_id(), status.message());
  }
}

void CoordinatorSession::SetRegistered(bool registered) {
  if (options_.metrics != nullptr) options_.metrics->registered.Set(registered ? 1 : 0);
}

absl::StatusOr<Duration> CoordinatorSession::Register(rpc::RpcClient& client) {
  v1::RegisterNodeRequest request;
  request.set_name(identity_.name);
  request.set_rpc_endpoint(identity_.rpc_endpoint);
  request.set_data_endpoint(identity_.data_endpoint);
  request.set_pid(static_cast<uint32_t>(getpid()));
  request.set_previous_node_id(node_id());
  request.set_probe_name(identity_.probe_name);
  request.set_probe_token(identity_.probe_token);
  request.set_memory_bytes(identity_.memory_bytes);
  request.set_memory_source(identity_.memory_source);
  const HeldJob held = slot_->held();
  request.set_job_id(held.job_id);
  request.set_attempt(held.attempt);
  v1::RegisterNodeReply reply;
  MESHSIM_RETURN_IF_ERROR(
      client.Call("Coordinator.RegisterNode", request, &reply, Deadline::After(std::chrono::seconds(2))));
  node_id_.store(reply.node_id(), std::memory_order_relaxed);
  spdlog::info("registered with coordinator {} as node {}", options_.coordinator.endpoint, reply.node_id());
  if (held.job_id != 0 && reply.drop_job()) {
    slot_->Drop(held.job_id, held.attempt, "the coordinator has moved on from it");
  } else if (held.job_id != 0) {
    spdlog::info("job {}: carries on under the coordinator", held.job_id);
  }
  SetRegistered(true);
  if (on_registered_) on_registered_(reply.node_id());
  return std::chrono::duration_cast<Duration>(
      std::chrono::duration<double>(reply.heartbeat_interval_seconds()));
}

absl::StatusOr<bool> CoordinatorSession::Heartbeat(rpc::RpcClient& client, Duration interval) {
  v1::HeartbeatRequest request;
  request.set_node_id(node_id());
  // The job this node holds, prepared or running: the coordinator releases
  // the node only once this is 0.
  const HeldJob held = slot_->held();
  request.set_job_id(held.job_id);
  request.set_attempt(held.attempt);
  if (held.running) {
    request.set_virtual_time(held.progress.virtual_time);
    request.set_committed_events(held.progress.committed_events);
    request.set_window(held.progress.windows);
  }
  request.set_frames_dropped(slot_->frames_dropped());
  if (options_.rpc_malformed) request.set_rpc_malformed(options_.rpc_malformed());
  v1::HeartbeatReply reply;
  MESHSIM_RETURN_IF_ERROR(
      client.Call("Coordinator.Heartbeat", request, &reply, Deadline::After(interval * 4)));
  SetRegistered(reply.known());
  if (!reply.known()) {
    spdlog::warn("coordinator does not know node {}; registering again", request.node_id());
    return false;
  }
  if (reply.drop_job() && held.job_id != 0) {
    slot_->Drop(held.job_id, held.attempt, "the coordinator has moved on from it");
  }
  return true;
}

void CoordinatorSession::DeliverReports(rpc::RpcClient& client) {
  report_queued_.store(false, std::memory_order_relaxed);
  for (;;) {
    v1::ReportJobRequest report;
    {
      std::lock_guard lock(mutex_);
      if (reports_.empty()) return;
      report = reports_.front();
    }
    report.set_node_id(node_id());
    v1::ReportJobReply reply;
    const absl::Status status =
        client.Call("Coordinator.ReportJob", report, &reply, Deadline::After(std::chrono::seconds(5)));
    // Retry later only what a coordinator that is away or busy may still
    // take; an answer that the job or attempt is over is final.
    if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
        absl::IsResourceExhausted(status)) {
      return;
    }
    if (status.ok()) {
      spdlog::info("job {}: report delivered", report.job_id());
    } else {
      spdlog::warn("job {}: report refused, dropped: {}", report.job_id(), status.message());
    }
    std::lock_guard lock(mutex_);
    reports_.pop_front();
  }
}

void CoordinatorSession::Pause(Duration length, bool until_report) {
  const Deadline next = Deadline::After(length);
  while (!next.Expired() && !stop_.load(std::memory_order_relaxed) &&
         !(until_report && report_queued_.load(std::memory_order_relaxed))) {
    std::this_thread::sleep_for(std::min<Duration>(next.Remaining(), std::chrono::milliseconds(20)));
  }
}

void CoordinatorSession::Loop() {
  auto client = rpc::RpcClient::Create(*context_, options_.coordinator);
  if (!client.ok()) {
    spdlog::critical("{}", client.status().message());
    return;
  }
  std::mt19937_64 jitter(static_cast<uint64_t>(getpid()) ^
                         static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count()));
  Duration backoff = kFirstBackoff;
  Duration interval = std::chrono::milliseconds(200);
  auto last_contact = SteadyClock::now();
  bool registered = false;
  bool told_unreachable = false;
  while (!stop_.load(std::memory_order_relaxed)) {
    if (!registered) {
      auto registered_interval = Register(**client);
      if (registered_interval.ok()) {
        registered = true;
        interval = *registered_interval;
        backoff = kFirstBackoff;
        last_contact = SteadyClock::now();
        told_unreachable = false;
        continue;
      }
      spdlog::warn("cannot register with coordinator {}: {}", options_.coordinator.endpoint,
                   registered_interval.status().message());
      std::uniform_real_distribution<double> spread(0.75, 1.25);
      Pause(std::chrono::duration_cast<Duration>(backoff * spread(jitter)), false);
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    DeliverReports(**client);
    const absl::StatusOr<bool> known = Heartbeat(**client, interval);
    if (known.ok()) {
      last_contact = SteadyClock::now();
      if (told_unreachable) spdlog::info("coordinator {} reachable again", options_.coordinator.endpoint);
      told_unreachable = false;
      registered = *known;
      if (!registered) continue;
    } else if (SteadyClock::now() - last_contact > options_.coordinator_timeout && !told_unreachable) {
      SetRegistered(false);
      told_unreachable = true;
      const uint64_t job = slot_->held().job_id;
      spdlog::error("coordinator {} unreachable for {:.1f} s{}", options_.coordinator.endpoint,
                    SecondsSince(last_contact),
                    job != 0 ? fmt::format("; job {} goes on, its report waits for it", job) : std::string());
    }
    Pause(interval, /*until_report=*/true);
  }
}

}  // namespace meshsim::node
