#include "node/job_metrics.h"

namespace meshsim::node {

void JobMetrics::PublishProgress(const sim::Kernel& kernel, double virtual_time) {
  virtual_time_.store(virtual_time, std::memory_order_relaxed);
  committed_.store(kernel.committed_events(), std::memory_order_relaxed);
}

JobProgress JobMetrics::progress() const {
  return {virtual_time_.load(std::memory_order_relaxed), committed_.load(std::memory_order_relaxed),
          windows_done_.load(std::memory_order_relaxed)};
}

void JobMetrics::PublishWindow(const sim::Kernel& kernel, double virtual_time, double window_seconds) {
  if (metrics_ == nullptr) return;
  const uint64_t events = kernel.committed_events();
  metrics_->events_processed.Increment(static_cast<double>(events - published_events_));
  published_events_ = events;
  metrics_->windows.Increment();
  metrics_->window_duration.Observe(window_seconds);
  metrics_->event_queue_depth.Set(static_cast<double>(kernel.pending_events()));
  metrics_->virtual_time.Set(virtual_time);
  const sim::MailboxCounters& mailboxes = kernel.mailbox_counters();
  metrics_->mailbox_posts.Increment(static_cast<double>(mailboxes.posts - published_mailboxes_.posts));
  metrics_->mailbox_deliveries.Increment(
      static_cast<double>(mailboxes.deliveries - published_mailboxes_.deliveries));
  metrics_->mailbox_remote_events.Increment(
      static_cast<double>(mailboxes.remote_events - published_mailboxes_.remote_events));
  published_mailboxes_ = mailboxes;
}

}  // namespace meshsim::node
