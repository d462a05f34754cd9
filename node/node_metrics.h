// The node's Prometheus metrics (meshsim_node_*). The window loop counts in
// plain variables and publishes here once per window, so the event path
// never touches a metric.
#pragma once

#include <array>
#include <string>

#include "absl/status/status.h"
#include "common/transport/shm/ring.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace meshsim::node {

struct NodeMetrics {
  explicit NodeMetrics(prometheus::Registry& registry);

  // Counts a job this node ended: completed (OK), aborted (ABORTED) or failed.
  void CountJobEnd(const absl::Status& status);

  prometheus::Counter& events_processed;
  prometheus::Counter& windows;
  prometheus::Histogram& window_duration;
  prometheus::Gauge& event_queue_depth;
  prometheus::Gauge& virtual_time;
  prometheus::Gauge& current_job;
  prometheus::Gauge& registered;
  prometheus::Counter& frames_dropped;
  prometheus::Counter& mailbox_posts;
  prometheus::Counter& mailbox_deliveries;
  prometheus::Counter& mailbox_remote_events;
  prometheus::Family<prometheus::Counter>& jobs;  // {result}
  // Per peer node and transport: {peer, transport}.
  prometheus::Family<prometheus::Counter>& messages_sent;
  prometheus::Family<prometheus::Counter>& bytes_sent;
  prometheus::Family<prometheus::Counter>& events_sent;
  prometheus::Family<prometheus::Counter>& messages_received;
  prometheus::Family<prometheus::Counter>& bytes_received;
  prometheus::Family<prometheus::Gauge>& ring_occupancy;  // {peer}
  // Frames taken from shm rings by how long they kept the node waiting,
  // indexed by transport::shm::WaitPhase: {how} = ready (already there),
  // polled (while polling, the first 2 us), yielded (while polling between
  // yields of the core, up to 1 ms), slept (after a sleep on the futex).
  std::array<prometheus::Counter*, transport::shm::kWaitPhases> frame_waits;
  // Checkpoints: parts this node saved at a barrier and handed to the
  // coordinator, their size, the barrier pause to save one, the upload
  // time, parts the coordinator did not take, and jobs restored here.
  prometheus::Counter& checkpoints_saved;
  prometheus::Counter& checkpoint_bytes;
  prometheus::Histogram& checkpoint_save_seconds;
  prometheus::Histogram& checkpoint_upload_seconds;
  prometheus::Counter& checkpoint_failures;
  prometheus::Counter& restores;
  // Optimistic synchronization: GVT and its rounds, events run (committed
  // or not), rollbacks and the events they undid, anti-messages by
  // direction, and the memory kept to undo events.
  prometheus::Gauge& gvt;
  prometheus::Counter& gvt_rounds;
  prometheus::Counter& optimistic_events_run;
  prometheus::Counter& rollbacks;
  prometheus::Counter& rolled_back_events;
  prometheus::Family<prometheus::Counter>& anti_messages;  // {direction}
  prometheus::Counter& anti_messages_sent;
  prometheus::Counter& anti_messages_received;
  prometheus::Gauge& saved_state_bytes;
  // Memory of the node's current (or last) job: the kernel's, by part
  // (lp_states, lp_records, pending_events, saved_states), and the process's
  // peak resident memory since the job was prepared.
  prometheus::Family<prometheus::Gauge>& job_memory;  // {part}
  prometheus::Gauge& job_memory_lp_states;
  prometheus::Gauge& job_memory_lp_records;
  prometheus::Gauge& job_memory_pending_events;
  prometheus::Gauge& job_memory_saved_states;
  prometheus::Gauge& job_peak_resident_bytes;
};

}  // namespace meshsim::node
