// Prometheus metrics of a meshsim process (docs/observability.md): one registry per
// process, served over HTTP at /metrics when a port is given. Every
// registry carries meshsim_build_info and the standard process_* metrics.
//
// Components register their own families on the registry. Hot paths never
// touch a metric: they count in plain variables and publish per window or
// per request.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}

namespace meshsim::metrics {

// A registry with meshsim_build_info{version, revision, role} and the
// process collector already in it.
std::shared_ptr<prometheus::Registry> NewProcessRegistry(const std::string& role);

// Where a process serves /metrics: `port` 0 lets the OS choose.
struct MetricsBind {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
};

// Parses the --metrics-port value: "0" (or empty) is off, "auto" is a port
// the OS picks, otherwise a port number. INVALID_ARGUMENT names the flag.
[[nodiscard]] absl::StatusOr<std::optional<MetricsBind>> ParseMetricsPort(const std::string& port,
                                                                          const std::string& host);

class MetricsServer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const MetricsBind& bind, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsServer();

  // http://host:port/metrics, with the port actually bound.
  const std::string& url() const { return url_; }
  // Also serves what `collectable` reports at each scrape (for values read
  // from a component's state rather than counted).
  void Add(const std::shared_ptr<prometheus::Collectable>& collectable);

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::string url_;
};

}  // namespace meshsim::metrics
