#include "cli/local_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/process/process_memory.h"
#include "common/rpc/rpc_client.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "proto/meshsim.pb.h"
#include "zmq.hpp"

namespace meshsim::cli {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kStopGrace = std::chrono::seconds(5);
// The local cluster lives on loopback and needs no keys, whatever the
// caller's environment says (docs/security.md).
constexpr char kNoKeys[] = "MESHSIM_KEYS=";
constexpr char kStatePrefix[] = "meshsim-run-";
// A LOCK younger than this may be a starting coordinator's, created but not
// yet locked.
constexpr auto kAbandonedAfter = std::chrono::minutes(1);

// A `meshsim run` killed outright cannot remove its state directory. Its
// coordinator, told by PR_SET_PDEATHSIG, exits and lets go of the
// directory's LOCK, so a directory of ours whose LOCK nobody holds is an
// abandoned one.
void RemoveAbandonedStateDirs(const std::filesystem::path& parent) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(parent, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kStatePrefix, 0) != 0 || !entry.is_directory(error)) continue;
    const std::string lock = (entry.path() / "LOCK").string();
    struct stat info {};
    if (::lstat(lock.c_str(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_uid != ::geteuid()) continue;
    const auto age =
        std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(info.st_mtim.tv_sec);
    if (age < kAbandonedAfter) continue;
    const int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) std::filesystem::remove_all(entry.path(), error);
    ::close(fd);
  }
}

// A fresh state directory for this run's coordinator, in TMPDIR, after
// removing those of runs that died.
absl::StatusOr<std::string> MakeStateDir() {
  std::error_code temp_error;
  const std::filesystem::path temp = std::filesystem::temp_directory_path(temp_error);
  if (temp_error) {
    return absl::UnavailableError(
        StrCat("no directory for temporary files (TMPDIR?): ", temp_error.message()));
  }
  RemoveAbandonedStateDirs(temp);
  std::string state_template = (temp / StrCat(kStatePrefix, "XXXXXX")).string();
  if (::mkdtemp(state_template.data()) == nullptr) {
    return absl::UnavailableError(
        StrCat("cannot create a state directory in ", temp.string(), ": ", std::strerror(errno)));
  }
  return state_template;
}

}  // namespace

std::string SelfExecutable() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : "meshsim";
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(LocalClusterOptions options) {
  auto cluster = std::unique_ptr<LocalCluster>(new LocalCluster());
  auto forward = [show = options.show_logs](const std::string& name, const std::string& line) {
    if (show) fmt::print(stderr, "{:<12} | {}\n", name, line);
  };
  const Deadline deadline = Deadline::After(kStartTimeout);
  const std::string metrics_port = options.metrics ? "auto" : "0";
  auto metrics_url = [&](process::ChildProcess& child) -> absl::Status {
    if (!options.metrics) return absl::OkStatus();
    MESHSIM_ASSIGN_OR_RETURN(std::string url, child.WaitForStatus("metrics", deadline));
    cluster->metrics_urls_.emplace_back(child.name(), std::move(url));
    return absl::OkStatus();
  };
  MESHSIM_ASSIGN_OR_RETURN(cluster->state_dir_, MakeStateDir());
  MESHSIM_ASSIGN_OR_RETURN(cluster->coordinator_,
                           process::ChildProcess::Spawn(
                               {.name = "coordinator",
                                .argv = {options.executable, "coordinator", "--bind", "tcp://127.0.0.1:0",
                                         "--node-timeout", fmt::format("{}", options.node_timeout_seconds),
                                         "--state-dir", cluster->state_dir_, "--log-level", options.log_level,
                                         "--log-format", options.log_format, "--metrics-port", metrics_port},
                                .extra_env = {kNoKeys},
                                .on_log_line = forward}));
  MESHSIM_ASSIGN_OR_RETURN(cluster->coordinator_endpoint_,
                           cluster->coordinator_->WaitForStatus("rpc", deadline));
  MESHSIM_RETURN_IF_ERROR(metrics_url(*cluster->coordinator_));
  // The nodes share this host: each may use its share of what the host
  // (its cgroup, the rlimits) allows, so the coordinator's admission by
  // memory sees the host, not N times it.
  const std::string memory_share = fmt::format("{}", process::ProcessMemoryLimit().bytes / options.nodes);
  for (uint32_t i = 1; i <= options.nodes; ++i) {
    const std::string name = StrCat("node-", i);
    MESHSIM_ASSIGN_OR_RETURN(
        auto node,
        process::ChildProcess::Spawn(
            {.name = name,
             .argv = {options.executable, "node", "--coordinator", cluster->coordinator_endpoint_, "--name",
                      name, "--log-level", options.log_level, "--log-format", options.log_format,
                      "--metrics-port", metrics_port, "--memory-limit", memory_share},
             .extra_env = {kNoKeys},
             .on_log_line = forward}));
    cluster->nodes_.push_back(std::move(node));
  }
  for (auto& node : cluster->nodes_) {
    if (auto id = node->WaitForStatus("node_id", deadline); !id.ok()) {
      return absl::UnavailableError(StrCat(id.status().message(), "\n", cluster->DescribeExits()));
    }
    MESHSIM_RETURN_IF_ERROR(metrics_url(*node));
  }
  return cluster;
}

LocalCluster::~LocalCluster() { Stop(); }

std::string LocalCluster::DescribeExits() {
  std::string out;
  auto describe = [&](process::ChildProcess& child) {
    if (child.running()) return;
    const auto status = child.Wait(Deadline::After(std::chrono::seconds(0)));
    StrAppend(&out, child.name(), " (pid ", child.pid(), ") ",
              status ? process::DescribeWaitStatus(*status) : "exited", "; last log lines:\n");
    const auto tail = child.Tail();
    for (size_t i = tail.size() > 10 ? tail.size() - 10 : 0; i < tail.size(); ++i) {
      StrAppend(&out, "    ", tail[i], "\n");
    }
  };
  if (coordinator_) describe(*coordinator_);
  for (auto& node : nodes_) describe(*node);
  return out;
}

void LocalCluster::Stop() {
  // Signal every node first so they stop in parallel, then reap them.
  for (auto& node : nodes_) {
    if (node->running()) node->Signal(SIGTERM);
  }
  for (auto& node : nodes_) node->Stop(kStopGrace);
  nodes_.clear();
  if (coordinator_) {
    coordinator_->Stop(kStopGrace);
    coordinator_.reset();
  }
  if (!state_dir_.empty()) {
    std::error_code error;
    std::filesystem::remove_all(state_dir_, error);
    state_dir_.clear();
  }
}

}  // namespace meshsim::cli
