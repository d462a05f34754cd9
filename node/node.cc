#include "node/node.h"

#include <unistd.h>

#include "common/net/endpoint.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "common/transport/shm/shm_segment.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

constexpr auto kIdlePoll = std::chrono::milliseconds(50);

// In a container the hostname is the container's; on a machine it tells
// which machine. The pid tells nodes on one host apart.
std::string DefaultName() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return StrCat(host[0] != '\0' ? host : "node", "-", getpid());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Create(NodeOptions options) {
  if (options.name.empty()) options.name = DefaultName();
  auto node = std::unique_ptr<Node>(new Node(std::move(options)));
  node->options_.job.keyring = node->options_.keyring;
  MESHSIM_RETURN_IF_ERROR(node->StartMetrics());
  MESHSIM_RETURN_IF_ERROR(node->BindSockets());
  // Segments of meshsim processes that died without cleaning up.
  transport::shm::SweepStaleSegments();
  node->OpenProbe();
  node->BuildParts();
  return node;
}

Node::Node(NodeOptions options) : options_(std::move(options)) {}

Node::~Node() { Stop(); }

absl::Status Node::StartMetrics() {
  if (!options_.metrics) return absl::OkStatus();
  registry_ = metrics::NewProcessRegistry("node");
  metrics_ = std::make_unique<NodeMetrics>(*registry_);
  options_.job.metrics = metrics_.get();
  MESHSIM_ASSIGN_OR_RETURN(metrics_server_, metrics::MetricsServer::Start(*options_.metrics, registry_));
  spdlog::info("serving metrics on {}", metrics_server_->url());
  return absl::OkStatus();
}

absl::Status Node::BindSockets() {
  if (const auto& keys = options_.keyring) {
    // Data connections only from the keys of the current job's peers.
    auto data_peer = [this](const std::string& key) { return slot_.AdmitsDataPeer(key); };
    MESHSIM_ASSIGN_OR_RETURN(
        zap_, security::ZapHandler::Start(context_, security::KeyringPolicy(keys, data_peer), registry_));
  }
  MESHSIM_ASSIGN_OR_RETURN(rpc_server_, rpc::RpcServer::Create(context_, {.bind_endpoint = options_.rpc_bind,
                                                                          .max_request_bytes = 16 << 20,
                                                                          .thread_name = "node-rpc",
                                                                          .registry = registry_,
                                                                          .keyring = options_.keyring}));
  MESHSIM_ASSIGN_OR_RETURN(
      inbox_, transport::ZmqFrameInbox::Bind(context_, options_.data_bind, options_.max_frame_bytes,
                                             options_.keyring ? options_.keyring->own().secret_key : ""));
  MESHSIM_ASSIGN_OR_RETURN(rpc_endpoint_,
                           net::AdvertisedEndpoint(rpc_server_->endpoint(), options_.advertise_host,
                                                   options_.coordinator_endpoint));
  MESHSIM_ASSIGN_OR_RETURN(
      data_endpoint_,
      net::AdvertisedEndpoint(inbox_->endpoint(), options_.advertise_host, options_.coordinator_endpoint));
  return absl::OkStatus();
}

void Node::OpenProbe() {
  auto probe = transport::shm::ColocationProbe::Create();
  if (!probe.ok()) {
    spdlog::warn("no shared memory here ({}); every link of this node will use tcp",
                 probe.status().message());
    return;
  }
  probe_.emplace(std::move(*probe));
  doorbell_.emplace(probe_->doorbell());
}

void Node::BuildParts() {
  checkpoints_ = std::make_unique<CheckpointClient>(context_, CoordinatorClientOptions(), metrics_.get());
  options_.job.checkpoints = checkpoints_.get();
  session_ = std::make_unique<CoordinatorSession>(
      context_,
      SessionIdentity{options_.name, rpc_endpoint_, data_endpoint_, probe_ ? probe_->name() : "",
                      probe_ ? probe_->token_hex() : "", options_.memory_limit.bytes,
                      options_.memory_limit.source},
      SessionOptions{CoordinatorClientOptions(), options_.coordinator_timeout, metrics_.get(),
                     [this] { return rpc_server_->stats().malformed; }},
      slot_);
  service_ = std::make_unique<NodeService>(NodeServiceParts{.node_name = options_.name,
                                                            .model_path = options_.model_path,
                                                            .job = options_.job,
                                                            .context = &context_,
                                                            .tcp_inbox = inbox_.get(),
                                                            .checkpoints = checkpoints_.get(),
                                                            .probe = probe_ ? &*probe_ : nullptr,
                                                            .doorbell = doorbell_ ? &*doorbell_ : nullptr,
                                                            .node_id = [this] { return session_->node_id(); },
                                                            .with_keys = options_.keyring != nullptr,
                                                            .memory_limit = options_.memory_limit},
                                           slot_);
  service_->RegisterOn(*rpc_server_);
}

void Node::Start(std::function<void(uint32_t)> on_registered) {
  rpc_server_->Start();
  checkpoints_->Start();
  session_->Start(std::move(on_registered));
  data_thread_ = StartNamedThread("data", [this] { DataLoop(); });
  spdlog::info("node {} serving rpc on {}, data on {}; it may use {} of memory ({})", options_.name,
               rpc_endpoint(), data_endpoint(), HumanBytes(static_cast<double>(options_.memory_limit.bytes)),
               options_.memory_limit.source);
}

void Node::Stop(std::string_view reason) {
  if (stopping_.exchange(true)) return;
  const uint64_t job_id = slot_.Stop();
  stop_.store(true, std::memory_order_relaxed);
  if (data_thread_.joinable()) data_thread_.join();
  if (session_) session_->Stop();
  if (checkpoints_) checkpoints_->Stop();
  if (job_id != 0) spdlog::warn("job {}: abandoned: {}", job_id, reason);
  if (session_) session_->Leave(reason);
  if (rpc_server_) rpc_server_->Stop();
}

void Node::DataLoop() {
  std::vector<std::byte> stray;
  while (!stop_.load(std::memory_order_relaxed)) {
    if (auto runner = slot_.TakeStarted(kIdlePoll)) {
      RunJob(std::move(runner));
      continue;
    }
    // Frames for a prepared job wait in the inbox until it starts.
    if (slot_.prepared()) continue;
    // Idle: anything arriving now belongs to no job, unless a job was
    // prepared while we waited and a peer that started first sent it.
    auto got = inbox_->Receive(&stray, kIdlePoll);
    if (!got.ok() || !*got || slot_.AdoptIfPrepared(stray, inbox_->last_sender())) continue;
    slot_.CountStrayFrame();
    if (metrics_) metrics_->frames_dropped.Increment();
    spdlog::warn("dropped data frame of {} bytes that arrived while no job runs", stray.size());
  }
}

void Node::RunJob(std::unique_ptr<JobRunner> runner) {
  const uint64_t job_id = runner->job_id();
  spdlog::info("job {}: started", job_id);
  if (metrics_) metrics_->current_job.Set(static_cast<double>(job_id));
  absl::StatusOr<v1::NodeShare> share;
  try {
    share = runner->Run();
  } catch (...) {
    // Model code (OnEvent, Fold, SaveState) threw, or memory ran out: the
    // job fails with why, and the node serves on.
    share = ModelThrew(std::current_exception(), options_.name, runner->model_name(), "while running",
                       options_.memory_limit);
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
  slot_.Finish(*runner);
  // The session delivers it, now or when the coordinator is back: a result
  // is never lost to a coordinator that is away.
  if (!absl::IsAborted(share.status())) session_->QueueReport(std::move(report));
  runner.reset();  // closes the links (lingering for the last frames), removes shm rings
  transport::shm::SweepStaleSegments();  // e.g. a dead peer's probe
}

}  // namespace meshsim::node
