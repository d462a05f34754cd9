// The coordinator's own metrics: the counters and histograms it updates as
// jobs move, and the gauges read from its state at each scrape.
#include "common/metrics/metrics.h"
#include "coordinator/coordinator.h"

namespace meshsim::coordinator {
namespace {

// Job durations: 10 ms to ~45 min in factors of 4.
const prometheus::Histogram::BucketBoundaries kJobDurationBuckets = {0.01,  0.04,  0.16,   0.64,   2.56,
                                                                     10.24, 40.96, 163.84, 655.36, 2621.44};

}  // namespace

class Coordinator::StateCollector final : public prometheus::Collectable {
 public:
  explicit StateCollector(Coordinator* coordinator) : coordinator_(coordinator) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return coordinator_->CollectStateMetrics();
  }

 private:
  Coordinator* coordinator_;
};

std::vector<prometheus::MetricFamily> Coordinator::CollectStateMetrics() {
  std::map<std::string, double> nodes_by_state, jobs_by_state;
  // Every state, so each series exists from the first scrape.
  for (v1::NodeState state : {v1::NODE_READY, v1::NODE_BUSY, v1::NODE_LOST}) {
    nodes_by_state[std::string(NodeStateName(state))] = 0;
  }
  for (int state = v1::QUEUED; state <= v1::JobState_MAX; ++state) {
    jobs_by_state[std::string(JobStateName(static_cast<v1::JobState>(state)))] = 0;
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, node] : nodes_) ++nodes_by_state[std::string(NodeStateName(node.info.state()))];
    for (const auto& [id, job] : jobs_) ++jobs_by_state[std::string(JobStateName(job.info.state()))];
  }
  auto family = [](std::string name, std::string help, const std::map<std::string, double>& by_state) {
    prometheus::MetricFamily out{std::move(name), std::move(help), prometheus::MetricType::Gauge, {}};
    for (const auto& [state, count] : by_state) {
      prometheus::ClientMetric metric;
      metric.label = {{"state", state}};
      metric.gauge.value = count;
      out.metric.push_back(metric);
    }
    return out;
  };
  auto gauge = [](std::string name, std::string help, double value) {
    prometheus::MetricFamily out{std::move(name), std::move(help), prometheus::MetricType::Gauge, {}};
    prometheus::ClientMetric metric;
    metric.gauge.value = value;
    out.metric.push_back(metric);
    return out;
  };
  return {family("meshsim_coordinator_nodes", "Nodes the coordinator knows, by state.", nodes_by_state),
          family("meshsim_coordinator_jobs",
                 "Jobs the coordinator holds (queued, running, recovering, or kept finished), by state.",
                 jobs_by_state),
          gauge("meshsim_coordinator_state_db_bytes", "Size of the state database and its write-ahead log.",
                static_cast<double>(store_->size_bytes())),
          gauge("meshsim_coordinator_checkpoint_store_bytes", "Bytes of checkpoint parts stored.",
                static_cast<double>(checkpoints_->size_bytes()))};
}

void Coordinator::ServeStateMetrics() { metrics_server_->Add(std::make_shared<StateCollector>(this)); }

void Coordinator::RegisterMetrics() {
  registry_ = metrics::NewProcessRegistry("coordinator");
  prometheus::Registry& registry = *registry_;
  metrics_.jobs_finished = &prometheus::BuildCounter()
                                .Name("meshsim_coordinator_jobs_finished_total")
                                .Help("Jobs that ended, by final state.")
                                .Register(registry);
  metrics_.job_duration = &prometheus::BuildHistogram()
                               .Name("meshsim_coordinator_job_duration_seconds")
                               .Help("Wall time from a job's start on its nodes to its end, by final state.")
                               .Register(registry);
  // Every final state exists from the start at zero, so rate() and
  // dashboards see the first job end rather than a series appearing.
  for (v1::JobState state : {v1::COMPLETED, v1::FAILED, v1::CANCELLED}) {
    const std::string name(JobStateName(state));
    metrics_.jobs_finished->Add({{"state", name}});
    metrics_.job_duration->Add({{"state", name}}, kJobDurationBuckets);
  }
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
  };
  metrics_.restarts = counter("meshsim_coordinator_job_restarts_total",
                              "Job restarts after a lost node (or a coordinator restart mid-assignment).");
  metrics_.replayed_windows = counter("meshsim_coordinator_replayed_windows_total",
                                      "Windows run again because a restart went back to a checkpoint.");
  metrics_.jobs_refused_memory =
      counter("meshsim_coordinator_jobs_refused_memory_total",
              "Submissions refused because their estimated memory per node exceeds what the nodes may use.");
  metrics_.checkpoints = counter("meshsim_coordinator_checkpoints_total", "Complete checkpoints stored.");
  metrics_.checkpoint_bytes =
      counter("meshsim_coordinator_checkpoint_bytes_total", "Bytes of checkpoint parts stored.");
  metrics_.checkpoint_write_seconds =
      &prometheus::BuildHistogram()
           .Name("meshsim_coordinator_checkpoint_part_write_seconds")
           .Help("Time to write, sync and check one checkpoint part's last chunk.")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.004, 0.016, 0.064, 0.256, 1.024, 4.096});
  metrics_.checkpoint_failures = &prometheus::BuildCounter()
                                      .Name("meshsim_coordinator_checkpoint_failures_total")
                                      .Help("Checkpoint parts not stored or found damaged, by reason.")
                                      .Register(registry);
  for (const char* reason : {"disk_full", "not_writable", "damaged", "other"}) {
    metrics_.checkpoint_failures->Add({{"reason", reason}});
  }
  metrics_.state_write_failures = counter("meshsim_coordinator_state_write_failures_total",
                                          "Writes to the state database that failed (retried).");
}

void Coordinator::CountJobEnd(const JobRecord& job, v1::JobState state) {
  const std::string name(JobStateName(state));
  metrics_.jobs_finished->Add({{"state", name}}).Increment();
  if (job.started != TimePoint{}) {
    metrics_.job_duration->Add({{"state", name}}, kJobDurationBuckets).Observe(SecondsSince(job.started));
  }
}

void Coordinator::CountCheckpointFailure(const absl::Status& status) {
  const char* reason = absl::IsResourceExhausted(status)    ? "disk_full"
                       : absl::IsFailedPrecondition(status) ? "not_writable"
                       : absl::IsDataLoss(status)           ? "damaged"
                                                            : "other";
  metrics_.checkpoint_failures->Add({{"reason", reason}}).Increment();
}

}  // namespace meshsim::coordinator
