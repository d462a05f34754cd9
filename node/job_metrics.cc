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
  PublishCommitted(kernel.committed_events(), kernel, virtual_time);
  metrics_->windows.Increment();
  metrics_->window_duration.Observe(window_seconds);
  PublishMailboxes(kernel);
}

void JobMetrics::PublishCommitted(uint64_t events, const sim::Kernel& kernel, double virtual_time) {
  metrics_->events_processed.Increment(static_cast<double>(events - published_events_));
  published_events_ = events;
  metrics_->event_queue_depth.Set(static_cast<double>(kernel.pending_events()));
  metrics_->virtual_time.Set(virtual_time);
}

void JobMetrics::PublishOptimistic(const sim::Kernel& kernel, double gvt, uint64_t rounds, bool exact) {
  // At a stop every event run is committed (the kernel holds nothing past it).
  const uint64_t committed = exact ? kernel.committed_events() : kernel.events_below_gvt();
  virtual_time_.store(gvt, std::memory_order_relaxed);
  committed_.store(committed, std::memory_order_relaxed);
  windows_done_.store(rounds, std::memory_order_relaxed);
  if (metrics_ == nullptr) return;
  PublishCommitted(committed, kernel, gvt);
  metrics_->gvt.Set(gvt);
  metrics_->gvt_rounds.Increment(static_cast<double>(rounds - published_rounds_));
  published_rounds_ = rounds;
  const sim::OptimisticCounters& now = kernel.optimistic_counters();
  sim::OptimisticCounters& last = published_optimistic_;
  metrics_->optimistic_events_run.Increment(static_cast<double>(now.processed - last.processed));
  metrics_->rollbacks.Increment(static_cast<double>(now.rollbacks - last.rollbacks));
  metrics_->rolled_back_events.Increment(static_cast<double>(now.rolled_back - last.rolled_back));
  metrics_->anti_messages_sent.Increment(static_cast<double>(now.antis_sent - last.antis_sent));
  metrics_->anti_messages_received.Increment(static_cast<double>(now.antis_received - last.antis_received));
  last = now;
  metrics_->saved_state_bytes.Set(static_cast<double>(kernel.saved_bytes()));
  if (exact) PublishMailboxes(kernel);
}

void JobMetrics::PublishMemory(const v1::MemoryStats& memory) {
  if (metrics_ == nullptr) return;
  metrics_->job_memory_lp_states.Set(static_cast<double>(memory.lp_state_bytes()));
  metrics_->job_memory_lp_records.Set(static_cast<double>(memory.lp_record_bytes()));
  metrics_->job_memory_pending_events.Set(static_cast<double>(memory.pending_event_bytes()));
  metrics_->job_memory_saved_states.Set(static_cast<double>(memory.saved_state_bytes()));
  metrics_->job_peak_resident_bytes.Set(static_cast<double>(memory.peak_rss_bytes()));
}

void JobMetrics::PublishMailboxes(const sim::Kernel& kernel) {
  const sim::MailboxCounters& mailboxes = kernel.mailbox_counters();
  metrics_->mailbox_posts.Increment(static_cast<double>(mailboxes.posts - published_mailboxes_.posts));
  metrics_->mailbox_deliveries.Increment(
      static_cast<double>(mailboxes.deliveries - published_mailboxes_.deliveries));
  metrics_->mailbox_remote_events.Increment(
      static_cast<double>(mailboxes.remote_events - published_mailboxes_.remote_events));
  published_mailboxes_ = mailboxes;
}

}  // namespace meshsim::node
