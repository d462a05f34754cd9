#include "cli/node_host.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "common/status/status.h"
#include "common/strings/format.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "spdlog/spdlog.h"

namespace meshsim::cli {
namespace {

// How often the supervisor looks at its children: the delay before a dead
// node is noticed, small next to the coordinator's node timeout.
constexpr auto kSuperviseInterval = std::chrono::milliseconds(200);

std::string DefaultPrefix() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host[0] != '\0' ? host : "host";
}

}  // namespace

absl::StatusOr<std::unique_ptr<NodeHost>> NodeHost::Create(NodeHostOptions options) {
  if (options.nodes == 0 || options.nodes > 64) {
    return absl::InvalidArgumentError(StrCat("--nodes: ", options.nodes, " is not between 1 and 64"));
  }
  if (options.name_prefix.empty()) options.name_prefix = DefaultPrefix();
  auto host = std::unique_ptr<NodeHost>(new NodeHost(std::move(options)));
  const NodeHostOptions& o = host->options_;
  if (o.metrics && o.metrics->port != 0 && o.metrics->port + o.nodes > 65535) {
    return absl::InvalidArgumentError(
        StrCat("--metrics-port: ", o.metrics->port, " + ", o.nodes, " nodes runs past port 65535"));
  }
  for (uint32_t i = 1; i <= o.nodes; ++i) {
    Slot slot;
    slot.name = StrCat(o.name_prefix, "-", i);
    slot.argv = {o.executable,      "node",
                 "--coordinator",   o.coordinator,
                 "--name",          slot.name,
                 "--rpc-bind",      StrCat("tcp://", o.bind_host, ":0"),
                 "--data-bind",     StrCat("tcp://", o.bind_host, ":0"),
                 "--stall-timeout", fmt::format("{}", o.stall_timeout_seconds),
                 "--log-level",     o.log_level,
                 "--log-format",    o.log_format};
    if (!o.advertise_host.empty()) {
      slot.argv.insert(slot.argv.end(), {"--advertise-host", o.advertise_host});
    }
    if (!o.keys_dir.empty()) slot.argv.insert(slot.argv.end(), {"--keys", o.keys_dir});
    if (!o.identity.empty()) slot.argv.insert(slot.argv.end(), {"--identity", o.identity});
    if (o.insecure) slot.argv.push_back("--insecure");
    if (o.metrics) {
      const std::string port = o.metrics->port == 0 ? "auto" : StrCat(o.metrics->port + i);
      slot.argv.insert(slot.argv.end(), {"--metrics-port", port, "--metrics-host", o.metrics->host});
    }
    slot.next_delay = o.restart_delay_min;
    host->slots_.push_back(std::move(slot));
  }
  if (o.metrics) {
    host->registry_ = metrics::NewProcessRegistry("host");
    host->nodes_running_ = &prometheus::BuildGauge()
                                .Name("meshsim_host_nodes_running")
                                .Help("Node processes of this host running now")
                                .Register(*host->registry_)
                                .Add({});
    host->restarts_ = &prometheus::BuildCounter()
                           .Name("meshsim_host_node_restarts_total")
                           .Help("Node processes this host started again after they exited")
                           .Register(*host->registry_)
                           .Add({});
    MESHSIM_ASSIGN_OR_RETURN(host->metrics_server_,
                             metrics::MetricsServer::Start(*o.metrics, host->registry_));
    host->metrics_url_ = host->metrics_server_->url();
  }
  return host;
}

NodeHost::~NodeHost() { Stop(std::chrono::seconds(5)); }

std::vector<std::string> NodeHost::node_names() const {
  std::vector<std::string> names;
  for (const Slot& slot : slots_) names.push_back(slot.name);
  return names;
}

absl::Status NodeHost::Spawn(Slot& slot) {
  auto forward = [](const std::string&, const std::string& line) {
    // The children's lines already carry their names; pass them through.
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  MESHSIM_ASSIGN_OR_RETURN(slot.child, process::ChildProcess::Spawn(
                                           {.name = slot.name, .argv = slot.argv, .on_log_line = forward}));
  slot.started = SteadyClock::now();
  spdlog::info("host: started node {} (pid {})", slot.name, slot.child->pid());
  return absl::OkStatus();
}

absl::Status NodeHost::Start() {
  for (Slot& slot : slots_) MESHSIM_RETURN_IF_ERROR(Spawn(slot));
  if (nodes_running_ != nullptr) nodes_running_->Set(static_cast<double>(slots_.size()));
  spdlog::info("host {}: {} nodes for coordinator {}", options_.name_prefix, slots_.size(),
               options_.coordinator);
  supervisor_ = std::thread([this] { SuperviseLoop(); });
  return absl::OkStatus();
}

void NodeHost::Supervise(Slot& slot, TimePoint now) {
  if (slot.child && !slot.child->running()) {
    const auto status = slot.child->Wait(Deadline::After(Duration::zero()));
    // A node that stayed up a while starts over at the shortest delay; one
    // that keeps failing waits longer each time, up to the ceiling.
    if (now - slot.started >= options_.stable_after) slot.next_delay = options_.restart_delay_min;
    spdlog::warn("host: node {} (pid {}) {}; starting it again in {:.1f} s", slot.name, slot.child->pid(),
                 status ? process::DescribeWaitStatus(*status) : "exited",
                 std::chrono::duration<double>(slot.next_delay).count());
    slot.child.reset();
    slot.restart_at = now + slot.next_delay;
    slot.next_delay = std::min(slot.next_delay * 2, options_.restart_delay_max);
  }
  if (!slot.child && now >= slot.restart_at) {
    if (auto status = Spawn(slot); !status.ok()) {
      spdlog::error("host: cannot start node {}: {}", slot.name, status.message());
      slot.restart_at = now + slot.next_delay;
      return;
    }
    ++slot.restarts;
    if (restarts_ != nullptr) restarts_->Increment();
  }
}

void NodeHost::SuperviseLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const TimePoint now = SteadyClock::now();
    size_t running = 0;
    for (Slot& slot : slots_) {
      Supervise(slot, now);
      running += slot.child ? 1 : 0;
    }
    if (nodes_running_ != nullptr) nodes_running_->Set(static_cast<double>(running));
    lock.lock();
    stop_requested_.wait_for(lock, kSuperviseInterval, [this] { return stopping_; });
  }
}

void NodeHost::Stop(Duration grace) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_requested_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  // All at once, so they leave in parallel; then reap each.
  for (Slot& slot : slots_) {
    if (slot.child && slot.child->running()) slot.child->Signal(SIGTERM);
  }
  for (Slot& slot : slots_) {
    if (!slot.child) continue;
    const int status = slot.child->Stop(grace);
    spdlog::info("host: node {} {}", slot.name, process::DescribeWaitStatus(status));
    slot.child.reset();
  }
  if (nodes_running_ != nullptr) nodes_running_->Set(0);
}

}  // namespace meshsim::cli
