#include "node/node.h"

#include <unistd.h>

#include <random>

#include "common/net/endpoint.h"
#include "common/rpc/rpc_client.h"
#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "common/transport/shm/shm_segment.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

constexpr auto kIdlePoll = std::chrono::milliseconds(50);

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Create(NodeOptions options) {
  if (options.name.empty()) {
    // In a container the hostname is the container's; on a machine it tells
    // which machine. The pid tells nodes on one host apart.
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    options.name = StrCat(host[0] != '\0' ? host : "node", "-", getpid());
  }
  auto node = std::unique_ptr<Node>(new Node(std::move(options)));
  node->options_.job.keyring = node->options_.keyring;
  if (node->options_.metrics) {
    node->registry_ = metrics::NewProcessRegistry("node");
    node->metrics_ = std::make_unique<NodeMetrics>(*node->registry_);
    node->options_.job.metrics = node->metrics_.get();
    MESHSIM_ASSIGN_OR_RETURN(node->metrics_server_,
                             metrics::MetricsServer::Start(*node->options_.metrics, node->registry_));
    spdlog::info("serving metrics on {}", node->metrics_server_->url());
  }
  if (const auto& keys = node->options_.keyring) {
    // Data connections only from the keys of the current job's peers.
    auto data_peer = [node = node.get()](const std::string& key) {
      std::lock_guard lock(node->data_peers_mutex_);
      return node->data_peer_keys_.contains(key);
    };
    MESHSIM_ASSIGN_OR_RETURN(
        node->zap_, security::ZapHandler::Start(node->context_, security::KeyringPolicy(keys, data_peer),
                                                node->registry_));
  }
  MESHSIM_ASSIGN_OR_RETURN(node->rpc_server_,
                           rpc::RpcServer::Create(node->context_, {.bind_endpoint = node->options_.rpc_bind,
                                                                   .max_request_bytes = 16 << 20,
                                                                   .thread_name = "node-rpc",
                                                                   .registry = node->registry_,
                                                                   .keyring = node->options_.keyring}));
  MESHSIM_ASSIGN_OR_RETURN(
      node->inbox_,
      transport::ZmqFrameInbox::Bind(node->context_, node->options_.data_bind, node->options_.max_frame_bytes,
                                     node->options_.keyring ? node->options_.keyring->own().secret_key : ""));
  MESHSIM_ASSIGN_OR_RETURN(node->rpc_endpoint_, net::AdvertisedEndpoint(node->rpc_server_->endpoint(),
                                                                        node->options_.advertise_host,
                                                                        node->options_.coordinator_endpoint));
  MESHSIM_ASSIGN_OR_RETURN(node->data_endpoint_,
                           net::AdvertisedEndpoint(node->inbox_->endpoint(), node->options_.advertise_host,
                                                   node->options_.coordinator_endpoint));
  // Segments of meshsim processes that died without cleaning up.
  transport::shm::SweepStaleSegments();
  if (auto probe = transport::shm::ColocationProbe::Create(); probe.ok()) {
    node->probe_.emplace(std::move(*probe));
    node->doorbell_.emplace(node->probe_->doorbell());
  } else {
    spdlog::warn("no shared memory here ({}); every link of this node will use tcp",
                 probe.status().message());
  }
  node->checkpoints_ = std::make_unique<CheckpointClient>(node->context_, node->CoordinatorClientOptions(),
                                                          node->metrics_.get());
  node->options_.job.checkpoints = node->checkpoints_.get();
  node->RegisterHandlers();
  return node;
}

Node::Node(NodeOptions options) : options_(std::move(options)) {}

Node::~Node() { Stop(); }

uint64_t Node::frames_dropped() const {
  return idle_frames_dropped_.load(std::memory_order_relaxed) +
         job_frames_dropped_.load(std::memory_order_relaxed);
}

void Node::RegisterHandlers() {
  rpc_server_->Register<v1::PrepareJobRequest, v1::PrepareJobReply>(
      "Node.PrepareJob", [this](const v1::PrepareJobRequest& request, v1::PrepareJobReply* reply) {
        {
          std::lock_guard lock(mutex_);
          if (request.job_id() == 0) return absl::InvalidArgumentError("job id 0 names no job");
          if (active_job_ == request.job_id() && active_attempt_ == request.attempt()) {
            *reply = prepared_reply_;  // a retried call: the same answer again
            return absl::OkStatus();
          }
          if (active_job_ != 0) {
            return absl::FailedPreconditionError(
                StrCat("node busy with job ", active_job_, " attempt ", active_attempt_));
          }
        }
        // The coordinator never sends more ranks than a scenario may have;
        // anything else is not its request.
        if (request.peers_size() > static_cast<int>(scenario::kMaxNodes) ||
            (request.has_restore() && request.restore().parts() > scenario::kMaxNodes)) {
          return absl::InvalidArgumentError(StrCat(request.peers_size(), " peers, ",
                                                   request.restore().parts(), " checkpoint parts: at most ",
                                                   scenario::kMaxNodes, " of each"));
        }
        // The model must be the coordinator's build of it: another build
        // could compute another result.
        const std::string& model = request.scenario().model();
        if (std::string why = sim::BuildMismatch(model, sim::ModelRegistry::Global().FindBuild(model),
                                                 sim::FromProto(request.model_build()));
            !why.empty()) {
          return absl::FailedPreconditionError(
              StrCat("node ", options_.name, ": ", why,
                     " (model path: ", options_.model_path.empty() ? "none" : options_.model_path, ")"));
        }
        v1::Scenario scenario = request.scenario();
        MESHSIM_RETURN_IF_ERROR(Annotate(scenario::Normalize(&scenario), "scenario"));
        JobSetup setup;
        setup.job_id = request.job_id();
        setup.attempt = request.attempt();
        if (request.has_restore()) {
          MESHSIM_ASSIGN_OR_RETURN(setup.restore_parts,
                                   checkpoints_->Download(request.job_id(), request.restore()));
        }
        setup.node_id = node_id_.load(std::memory_order_relaxed);
        setup.scenario = std::move(scenario);
        setup.rank = request.rank();
        setup.peers.assign(request.peers().begin(), request.peers().end());
        if (probe_) {
          setup.probe_name = probe_->name();
          setup.doorbell = &*doorbell_;
        } else {
          for (auto& peer : setup.peers) peer.clear_probe_name();  // no shm here: probe nobody
        }
        // The model's Init (or RestoreState) runs here: a model that throws
        // fails the job, not the node.
        absl::StatusOr<std::unique_ptr<JobRunner>> created;
        try {
          created = JobRunner::Create(std::move(setup), options_.job, context_, inbox_.get());
        } catch (...) {
          created = absl::InternalError(StrCat("node ", options_.name, ": model '", model, "' ",
                                               sim::DescribeException(std::current_exception()),
                                               " while its LPs were set up"));
        }
        MESHSIM_ASSIGN_OR_RETURN(auto runner, std::move(created));
        for (uint32_t rank : runner->colocated_ranks()) reply->add_colocated_ranks(rank);
        for (const std::string& mailbox : runner->subscribed_mailboxes()) reply->add_mailboxes(mailbox);
        std::lock_guard lock(mutex_);
        if (active_job_ != 0) return absl::FailedPreconditionError("node busy");
        prepared_reply_ = *reply;
        prepared_ = std::move(runner);
        if (options_.keyring) {
          // The data socket admits these keys from now on (docs/security.md).
          std::lock_guard peers_lock(data_peers_mutex_);
          data_peer_keys_.clear();
          for (const auto& peer : request.peers()) {
            if (peer.rank() != request.rank()) data_peer_keys_.insert(peer.public_key());
          }
        }
        started_ = false;
        active_job_ = request.job_id();
        active_attempt_ = prepared_->attempt();
        spdlog::info("job {}: attempt {} prepared as rank {} of {}", request.job_id(), active_attempt_,
                     request.rank(), request.peers_size());
        return absl::OkStatus();
      });
  rpc_server_->Register<v1::StartJobRequest, v1::StartJobReply>(
      "Node.StartJob", [this](const v1::StartJobRequest& request, v1::StartJobReply*) {
        std::lock_guard lock(mutex_);
        // Job 0 is "none": an idle node has active_job_ 0 and nothing prepared.
        if (request.job_id() == 0 || active_job_ != request.job_id() ||
            active_attempt_ != request.attempt()) {
          return absl::NotFoundError(
              StrCat("job ", request.job_id(), " attempt ", request.attempt(), " is not prepared here"));
        }
        if (started_ || running_ != nullptr) return absl::OkStatus();  // a retried call
        std::vector<v1::Transport> transports;
        for (int transport : request.link_transports())
          transports.push_back(static_cast<v1::Transport>(transport));
        MESHSIM_RETURN_IF_ERROR(prepared_->InstallMailboxes(request.mailboxes()));
        MESHSIM_RETURN_IF_ERROR(prepared_->ConnectLinks(transports));
        started_ = true;
        job_changed_.notify_all();
        return absl::OkStatus();
      });
  rpc_server_->Register<v1::AbortJobRequest, v1::AbortJobReply>(
      "Node.AbortJob", [this](const v1::AbortJobRequest& request, v1::AbortJobReply*) {
        // A job already gone is no error: aborts are retried.
        DropJob(request.job_id(), request.attempt(),
                StrCat("aborted by the coordinator: ", request.reason()));
        return absl::OkStatus();
      });
}

void Node::Start(std::function<void(uint32_t)> on_registered) {
  on_registered_ = std::move(on_registered);
  rpc_server_->Start();
  checkpoints_->Start();
  membership_thread_ = StartNamedThread("membership", [this] { MembershipLoop(); });
  data_thread_ = StartNamedThread("data", [this] { DataLoop(); });
  spdlog::info("node {} serving rpc on {}, data on {}", options_.name, rpc_endpoint(), data_endpoint());
}

void Node::Stop(std::string_view reason) {
  uint64_t job_id = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    job_id = active_job_;
    if (running_ != nullptr) running_->RequestAbort();
    job_changed_.notify_all();
  }
  stop_.store(true, std::memory_order_relaxed);
  if (data_thread_.joinable()) data_thread_.join();
  if (membership_thread_.joinable()) membership_thread_.join();
  checkpoints_->Stop();
  if (job_id != 0) spdlog::warn("job {}: abandoned: {}", job_id, reason);
  {
    std::lock_guard lock(mutex_);
    if (!reports_.empty()) {
      spdlog::warn("{} job reports not delivered to the coordinator (job {} first)", reports_.size(),
                   reports_.front().job_id());
    }
  }
  Leave(reason);
  if (rpc_server_) rpc_server_->Stop();
}

void Node::Leave(std::string_view reason) {
  const uint32_t node_id = node_id_.load(std::memory_order_relaxed);
  if (node_id == 0) return;  // never registered
  auto client = rpc::RpcClient::Create(context_, CoordinatorClientOptions());
  v1::LeaveNodeRequest request;
  request.set_node_id(node_id);
  request.set_reason(std::string(reason));
  v1::LeaveNodeReply reply;
  // Brief: a coordinator that is gone has nothing to be told.
  const absl::Status status = client.ok() ? (*client)->Call("Coordinator.LeaveNode", request, &reply,
                                                            Deadline::After(std::chrono::milliseconds(500)))
                                          : client.status();
  if (status.ok()) {
    spdlog::info("left coordinator {} as node {}: {}", options_.coordinator_endpoint, node_id, reason);
  } else {
    spdlog::warn("could not tell coordinator {} that node {} leaves: {}", options_.coordinator_endpoint,
                 node_id, status.message());
  }
}

absl::StatusOr<Duration> Node::Register(rpc::RpcClient& client) {
  v1::RegisterNodeRequest request;
  request.set_name(options_.name);
  request.set_rpc_endpoint(rpc_endpoint());
  request.set_data_endpoint(data_endpoint());
  request.set_pid(static_cast<uint32_t>(getpid()));
  request.set_previous_node_id(node_id_.load(std::memory_order_relaxed));
  if (probe_) {
    request.set_probe_name(probe_->name());
    request.set_probe_token(probe_->token_hex());
  }
  {
    std::lock_guard lock(mutex_);
    request.set_job_id(active_job_);
    request.set_attempt(active_attempt_);
  }
  v1::RegisterNodeReply reply;
  MESHSIM_RETURN_IF_ERROR(
      client.Call("Coordinator.RegisterNode", request, &reply, Deadline::After(std::chrono::seconds(2))));
  node_id_.store(reply.node_id(), std::memory_order_relaxed);
  spdlog::info("registered with coordinator {} as node {}", options_.coordinator_endpoint, reply.node_id());
  if (request.job_id() != 0 && reply.drop_job()) {
    DropJob(request.job_id(), request.attempt(), "the coordinator has moved on from it");
  } else if (request.job_id() != 0) {
    spdlog::info("job {}: carries on under the coordinator", request.job_id());
  }
  if (metrics_) metrics_->registered.Set(1);
  if (on_registered_) on_registered_(reply.node_id());
  return std::chrono::duration_cast<Duration>(
      std::chrono::duration<double>(reply.heartbeat_interval_seconds()));
}

void Node::DropJob(uint64_t job_id, uint32_t attempt, std::string_view why) {
  std::lock_guard lock(mutex_);
  if (job_id == 0 || active_job_ != job_id || active_attempt_ != attempt) return;
  spdlog::warn("job {}: attempt {} dropped: {}", job_id, attempt, why);
  if (running_ != nullptr) {
    running_->RequestAbort();
  } else {
    prepared_.reset();
    active_job_ = 0;
    active_attempt_ = 0;
    ForgetDataPeers();
  }
}

void Node::ForgetDataPeers() {
  std::lock_guard peers_lock(data_peers_mutex_);
  data_peer_keys_.clear();
}

void Node::DeliverReports(rpc::RpcClient& client) {
  report_queued_.store(false, std::memory_order_relaxed);
  for (;;) {
    v1::ReportJobRequest report;
    {
      std::lock_guard lock(mutex_);
      if (reports_.empty()) return;
      report = reports_.front();
    }
    report.set_node_id(node_id_.load(std::memory_order_relaxed));
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

void Node::MembershipLoop() {
  auto client = rpc::RpcClient::Create(context_, CoordinatorClientOptions());
  if (!client.ok()) {
    spdlog::critical("{}", client.status().message());
    return;
  }
  // Registration retries back off exponentially with jitter, so nodes that
  // lost a coordinator together do not return to it in lockstep.
  constexpr Duration kFirstBackoff = std::chrono::milliseconds(100);
  constexpr Duration kMaxBackoff = std::chrono::seconds(2);
  std::mt19937_64 jitter(static_cast<uint64_t>(getpid()) ^
                         static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count()));
  Duration backoff = kFirstBackoff;
  Duration interval = std::chrono::milliseconds(200);
  auto last_contact = SteadyClock::now();
  bool registered = false;
  bool told_unreachable = false;
  // Sleeps in short slices so Stop() is prompt; between heartbeats, a
  // report just queued cuts the sleep short so it leaves at once.
  auto pause = [&](Duration length, bool until_report = false) {
    const Deadline next = Deadline::After(length);
    while (!next.Expired() && !stop_.load(std::memory_order_relaxed) &&
           !(until_report && report_queued_.load(std::memory_order_relaxed))) {
      std::this_thread::sleep_for(std::min<Duration>(next.Remaining(), std::chrono::milliseconds(20)));
    }
  };
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
      spdlog::warn("cannot register with coordinator {}: {}", options_.coordinator_endpoint,
                   registered_interval.status().message());
      std::uniform_real_distribution<double> spread(0.75, 1.25);
      pause(std::chrono::duration_cast<Duration>(backoff * spread(jitter)));
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    DeliverReports(**client);
    v1::HeartbeatRequest request;
    request.set_node_id(node_id_.load(std::memory_order_relaxed));
    {
      std::lock_guard lock(mutex_);
      // The job this node holds, prepared or running: the coordinator
      // releases the node only once this is 0.
      request.set_job_id(active_job_);
      request.set_attempt(active_attempt_);
      if (running_ != nullptr) {
        const JobProgress progress = running_->progress();
        request.set_virtual_time(progress.virtual_time);
        request.set_committed_events(progress.committed_events);
        request.set_window(progress.windows);
        job_frames_dropped_.store(running_->frames_dropped(), std::memory_order_relaxed);
      }
    }
    request.set_frames_dropped(frames_dropped());
    request.set_rpc_malformed(rpc_server_->stats().malformed);
    v1::HeartbeatReply reply;
    absl::Status status =
        (*client)->Call("Coordinator.Heartbeat", request, &reply, Deadline::After(interval * 4));
    if (status.ok()) {
      last_contact = SteadyClock::now();
      if (told_unreachable) spdlog::info("coordinator {} reachable again", options_.coordinator_endpoint);
      told_unreachable = false;
      if (metrics_) metrics_->registered.Set(reply.known() ? 1 : 0);
      if (!reply.known()) {
        spdlog::warn("coordinator does not know node {}; registering again", request.node_id());
        registered = false;
        continue;
      }
      if (reply.drop_job() && request.job_id() != 0) {
        DropJob(request.job_id(), request.attempt(), "the coordinator has moved on from it");
      }
    } else if (SteadyClock::now() - last_contact > options_.coordinator_timeout && !told_unreachable) {
      if (metrics_) metrics_->registered.Set(0);
      told_unreachable = true;
      spdlog::error("coordinator {} unreachable for {:.1f} s{}", options_.coordinator_endpoint,
                    SecondsSince(last_contact),
                    request.job_id() != 0
                        ? fmt::format("; job {} goes on, its report waits for it", request.job_id())
                        : std::string());
    }
    pause(interval, /*until_report=*/true);
  }
}

void Node::DataLoop() {
  std::vector<std::byte> stray;
  while (!stop_.load(std::memory_order_relaxed)) {
    std::unique_ptr<JobRunner> runner;
    {
      std::unique_lock lock(mutex_);
      if (started_ && prepared_) {
        runner = std::move(prepared_);
        running_ = runner.get();
        started_ = false;
      } else if (prepared_) {
        // Frames for the prepared job wait in the inbox until it starts.
        job_changed_.wait_for(lock, kIdlePoll);
        continue;
      }
    }
    if (runner) {
      RunJob(runner);
      continue;
    }
    // Idle: anything arriving now belongs to no job, unless a job was
    // prepared while we waited and a peer that started first sent it.
    auto got = inbox_->Receive(&stray, kIdlePoll);
    if (!got.ok() || !*got) continue;
    std::lock_guard lock(mutex_);
    if (prepared_) {
      prepared_->AdoptEarlyFrame(std::move(stray), std::string(inbox_->last_sender()));
      stray = {};
      continue;
    }
    idle_frames_dropped_.fetch_add(1, std::memory_order_relaxed);
    if (metrics_) metrics_->frames_dropped.Increment();
    spdlog::warn("dropped data frame of {} bytes that arrived while no job runs", stray.size());
  }
}

void Node::RunJob(std::unique_ptr<JobRunner>& runner) {
  const uint64_t job_id = runner->job_id();
  spdlog::info("job {}: started", job_id);
  if (metrics_) metrics_->current_job.Set(static_cast<double>(job_id));
  absl::StatusOr<v1::NodeShare> share;
  try {
    share = runner->Run();
  } catch (...) {
    // Model code (OnEvent, Fold, SaveState) threw: the job fails with why.
    share = absl::InternalError(StrCat("node ", options_.name, ": model '", runner->model_name(), "' ",
                                       sim::DescribeException(std::current_exception()), " while running"));
  }
  if (metrics_) {
    metrics_->current_job.Set(0);
    metrics_->CountJobEnd(share.status());
  }
  v1::ReportJobRequest report;
  report.set_job_id(job_id);
  report.set_attempt(runner->attempt());
  if (share.ok()) {
    spdlog::info("job {}: done, {} events committed in {:.3f} s", job_id, share->committed_events(),
                 share->loop_seconds());
    report.set_ok(true);
    *report.mutable_share() = std::move(*share);
  } else if (absl::IsAborted(share.status())) {
    spdlog::info("job {}: aborted", job_id);
  } else {
    spdlog::error("job {}: failed: {}", job_id, share.status().message());
    report.set_ok(false);
    report.set_error(std::string(share.status().message()));
    report.set_error_code(static_cast<int32_t>(share.status().code()));
  }
  {
    std::lock_guard lock(mutex_);
    job_frames_dropped_.store(0, std::memory_order_relaxed);
    idle_frames_dropped_.fetch_add(runner->frames_dropped(), std::memory_order_relaxed);
    running_ = nullptr;
    active_job_ = 0;
    active_attempt_ = 0;
    ForgetDataPeers();
    // The membership thread delivers it, now or when the coordinator is
    // back: a result is never lost to a coordinator that is away.
    if (!absl::IsAborted(share.status())) {
      reports_.push_back(std::move(report));
      report_queued_.store(true, std::memory_order_relaxed);
    }
  }
  runner.reset();  // closes the links (lingering for the last frames), removes shm rings
  transport::shm::SweepStaleSegments();  // e.g. a dead peer's probe
}

}  // namespace meshsim::node
