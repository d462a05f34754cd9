#include "common/metrics/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "common/strings/format.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"

#ifndef MESHSIM_VERSION
#define MESHSIM_VERSION "unknown"
#endif
#ifndef MESHSIM_GIT_REVISION
#define MESHSIM_GIT_REVISION "unknown"
#endif

namespace meshsim::metrics {
namespace {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return {std::move(name), std::move(help), type, {metric}};
}

// The process_* metrics of the Prometheus client conventions, read from
// /proc at each scrape.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    std::ifstream stat_file("/proc/self/stat");
    std::string line;
    std::getline(stat_file, line);
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos) return families;
    // Fields after "pid (comm)", numbered as in proc(5) from 3.
    std::istringstream fields(line.substr(paren + 2));
    std::vector<std::string> f(3);
    for (std::string field; fields >> field;) f.push_back(field);
    if (f.size() < 25) return families;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    families.push_back(Family("process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
                              prometheus::MetricType::Counter,
                              (std::stod(f[14]) + std::stod(f[15])) / ticks));
    families.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                              prometheus::MetricType::Gauge, std::stod(f[24]) * page));
    families.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              prometheus::MetricType::Gauge, std::stod(f[23])));
    families.push_back(Family("process_threads", "Number of OS threads in the process.",
                              prometheus::MetricType::Gauge, std::stod(f[20])));
    families.push_back(Family("process_start_time_seconds",
                              "Start time of the process since the Unix epoch, in seconds.",
                              prometheus::MetricType::Gauge, boot_time_ + std::stod(f[22]) / ticks));
    families.push_back(Family("process_open_fds", "Number of open file descriptors.",
                              prometheus::MetricType::Gauge, OpenFds()));
    return families;
  }

 private:
  static double BootTime() {
    std::ifstream stat("/proc/stat");
    for (std::string key; stat >> key;) {
      if (key == "btime") {
        double seconds = 0;
        stat >> seconds;
        return seconds;
      }
      std::string rest;
      std::getline(stat, rest);
    }
    return 0;
  }
  static double OpenFds() {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return 0;
    double count = 0;
    while (const dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
    closedir(dir);
    return count - 1;  // the descriptor reading the directory
  }
  const double boot_time_ = BootTime();
};

}  // namespace

std::shared_ptr<prometheus::Registry> NewProcessRegistry(const std::string& role) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("meshsim_build_info")
      .Help("Always 1; the labels say which meshsim build this process runs and as what.")
      .Register(*registry)
      .Add({{"version", MESHSIM_VERSION}, {"revision", MESHSIM_GIT_REVISION}, {"role", role}})
      .Set(1);
  return registry;
}

absl::StatusOr<std::optional<MetricsBind>> ParseMetricsPort(const std::string& port,
                                                            const std::string& host) {
  if (port.empty() || port == "0") return std::optional<MetricsBind>();
  if (host.empty()) return absl::InvalidArgumentError("--metrics-host: empty");
  if (port == "auto") return std::optional<MetricsBind>(MetricsBind{host, 0});
  char* end = nullptr;
  const long value = std::strtol(port.c_str(), &end, 10);
  if (*end != '\0' || value < 1 || value > 65535) {
    return absl::InvalidArgumentError(
        StrCat("--metrics-port: '", port, "' is not 0 (off), auto or a port number"));
  }
  return std::optional<MetricsBind>(MetricsBind{host, static_cast<uint16_t>(value)});
}

MetricsServer::~MetricsServer() = default;

void MetricsServer::Add(const std::shared_ptr<prometheus::Collectable>& collectable) {
  collectables_.push_back(collectable);
  exposer_->RegisterCollectable(collectable);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsBind& bind, std::shared_ptr<prometheus::Registry> registry) {
  auto server = std::unique_ptr<MetricsServer>(new MetricsServer());
  const std::string address = StrCat(bind.host, ":", bind.port);
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  server->registry_ = std::move(registry);
  server->exposer_->RegisterCollectable(server->registry_);
  static const auto process_collector = std::make_shared<ProcessCollector>();
  server->exposer_->RegisterCollectable(process_collector);
  const auto ports = server->exposer_->GetListeningPorts();
  if (ports.empty()) return absl::UnavailableError(StrCat("metrics server on ", address, " has no port"));
  server->url_ = StrCat("http://", bind.host, ":", ports.front(), "/metrics");
  return server;
}

}  // namespace meshsim::metrics
