// What one job's run shows while it runs: its progress, read by the node's
// heartbeat from another thread, and its window-by-window figures in the
// node's Prometheus metrics. The sync protocol calls Publish once per
// window (or per round), so the event path never touches a metric.
//
// Thread-safety: Publish* on the job's thread; progress() from any.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/sim/kernel.h"
#include "node/node_metrics.h"
#include "proto/meshsim.pb.h"

namespace meshsim::node {

struct JobProgress {
  double virtual_time = 0;
  uint64_t committed_events = 0;
  uint64_t windows = 0;
};

class JobMetrics {
 public:
  // `metrics` may be null: then only progress is kept.
  explicit JobMetrics(NodeMetrics* metrics) : metrics_(metrics) {}

  // Progress for the heartbeat: virtual time reached and events committed.
  void PublishProgress(const sim::Kernel& kernel, double virtual_time);
  void PublishWindows(uint64_t windows) { windows_done_.store(windows, std::memory_order_relaxed); }
  // What the kernel did since the last call, and one window of
  // `window_seconds`, to the node's metrics.
  void PublishWindow(const sim::Kernel& kernel, double virtual_time, double window_seconds);

  // Optimistic synchronization, once per GVT round: progress follows GVT
  // and the events below it; the kernel's rollback counters and saved
  // memory. Mailbox counts go down when posts are rolled back, so they
  // are published only where they are `exact` (a stop: a checkpoint, the
  // end).
  void PublishOptimistic(const sim::Kernel& kernel, double gvt, uint64_t rounds, bool exact);

  // The job's memory (Share's), to the node's gauges.
  void PublishMemory(const v1::MemoryStats& memory);

  JobProgress progress() const;
  NodeMetrics* node_metrics() const { return metrics_; }

 private:
  void PublishCommitted(uint64_t events, const sim::Kernel& kernel, double virtual_time);
  void PublishMailboxes(const sim::Kernel& kernel);

  NodeMetrics* metrics_;
  // What PublishWindow() published so far, to publish differences.
  uint64_t published_events_ = 0;
  sim::MailboxCounters published_mailboxes_;
  sim::OptimisticCounters published_optimistic_;
  uint64_t published_rounds_ = 0;
  // Read by the heartbeat thread: relaxed, each value stands alone.
  std::atomic<double> virtual_time_{0};
  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> windows_done_{0};
};

}  // namespace meshsim::node
