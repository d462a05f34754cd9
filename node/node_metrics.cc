#include "node/node_metrics.h"

namespace meshsim::node {
namespace {

prometheus::Family<prometheus::Counter>& Counters(prometheus::Registry& registry, const std::string& name,
                                                  const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& Gauges(prometheus::Registry& registry, const std::string& name,
                                              const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

// A metric without labels: the one series of its family.
prometheus::Counter& Counter(prometheus::Registry& registry, const std::string& name,
                             const std::string& help) {
  return Counters(registry, name, help).Add({});
}

prometheus::Gauge& Gauge(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  return Gauges(registry, name, help).Add({});
}

prometheus::Histogram& Histogram(prometheus::Registry& registry, const std::string& name,
                                 const std::string& help,
                                 const prometheus::Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

// The values of meshsim_node_jobs_total's `result` label.
constexpr const char* kJobCompleted = "completed";
constexpr const char* kJobAborted = "aborted";
constexpr const char* kJobFailed = "failed";

// 100 us to ~1.7 min in factors of 4: a window is microseconds for a tiny
// lookahead and seconds for a large model.
const prometheus::Histogram::BucketBoundaries kWindowBuckets = {
    1e-4, 4e-4, 1.6e-3, 6.4e-3, 2.56e-2, 0.1024, 0.4096, 1.6384, 6.5536, 26.2144, 104.8576};

// One series of meshsim_node_frame_waits_total per WaitPhase, in its order.
std::array<prometheus::Counter*, transport::shm::kWaitPhases> FrameWaits(prometheus::Registry& registry) {
  auto& waits = Counters(registry, "meshsim_node_frame_waits_total",
                         "Frames taken from shared-memory rings, by how long they kept this node waiting: "
                         "ready, polled (under 2 us), yielded (polling between yields of the core, up to "
                         "1 ms) or slept (on the futex).");
  const char* kinds[transport::shm::kWaitPhases] = {"ready", "polled", "yielded", "slept"};
  std::array<prometheus::Counter*, transport::shm::kWaitPhases> series{};
  for (size_t how = 0; how < series.size(); ++how) series[how] = &waits.Add({{"how", kinds[how]}});
  return series;
}

}  // namespace

NodeMetrics::NodeMetrics(prometheus::Registry& registry)
    : events_processed(Counter(registry, "meshsim_node_events_processed_total",
                               "Simulation events this node processed (committed).")),
      windows(
          Counter(registry, "meshsim_node_windows_total", "Synchronization windows this node completed.")),
      window_duration(Histogram(registry, "meshsim_node_window_duration_seconds",
                                "Wall time of one window: processing its events and exchanging frames.",
                                kWindowBuckets)),
      event_queue_depth(
          Gauge(registry, "meshsim_node_event_queue_depth", "Events pending in this node's queue.")),
      virtual_time(Gauge(registry, "meshsim_node_virtual_time",
                         "Virtual time this node's current (or last) job has reached.")),
      current_job(Gauge(registry, "meshsim_node_current_job", "Id of the job this node runs; 0 when idle.")),
      registered(Gauge(registry, "meshsim_node_registered",
                       "1 while the coordinator knows this node (registered, heartbeats answered), else 0.")),
      frames_dropped(Counter(registry, "meshsim_node_frames_dropped_total",
                             "Data frames dropped as malformed, stale or unexpected.")),
      mailbox_posts(
          Counter(registry, "meshsim_node_mailbox_posts_total", "Mailbox posts made by this node's LPs.")),
      mailbox_deliveries(
          Counter(registry, "meshsim_node_mailbox_deliveries_total",
                  "Mailbox events handed to this node's subscribers (one per subscriber per post).")),
      mailbox_remote_events(
          Counter(registry, "meshsim_node_mailbox_remote_events_total",
                  "Mailbox posts sent on to other nodes (one per remote subscribing node).")),
      jobs(Counters(registry, "meshsim_node_jobs_total", "Jobs this node took part in, by result.")),
      messages_sent(Counters(registry, "meshsim_node_link_messages_sent_total",
                             "Data frames sent, by peer node and transport.")),
      bytes_sent(Counters(registry, "meshsim_node_link_sent_bytes_total",
                          "Bytes of data frames sent, by peer node and transport.")),
      events_sent(Counters(registry, "meshsim_node_link_events_sent_total",
                           "Simulation events sent in data frames, by peer node and transport.")),
      messages_received(Counters(registry, "meshsim_node_link_messages_received_total",
                                 "Data frames received and accepted, by peer node and transport.")),
      bytes_received(Counters(registry, "meshsim_node_link_received_bytes_total",
                              "Bytes of data frames received and accepted, by peer node and transport.")),
      ring_occupancy(Gauges(registry, "meshsim_node_ring_occupancy_bytes",
                            "Bytes in the shared-memory ring to a peer not yet read by it, after this "
                            "node's last frame.")),
      frame_waits(FrameWaits(registry)),
      checkpoints_saved(Counter(registry, "meshsim_node_checkpoints_saved_total",
                                "Checkpoint parts this node saved at a window barrier.")),
      checkpoint_bytes(Counter(registry, "meshsim_node_checkpoint_bytes_total",
                               "Bytes of checkpoint parts this node saved.")),
      checkpoint_save_seconds(Histogram(registry, "meshsim_node_checkpoint_save_seconds",
                                        "Time the window loop paused to save a checkpoint part.",
                                        kWindowBuckets)),
      checkpoint_upload_seconds(Histogram(
          registry, "meshsim_node_checkpoint_upload_seconds",
          "Time to hand a checkpoint part to the coordinator (in the background).", kWindowBuckets)),
      checkpoint_failures(Counter(registry, "meshsim_node_checkpoint_failures_total",
                                  "Checkpoint parts the coordinator did not store (the job goes on).")),
      restores(Counter(registry, "meshsim_node_restores_total",
                       "Jobs this node started from a checkpoint instead of init.")),
      gvt(Gauge(registry, "meshsim_node_gvt",
                "Global virtual time of this node's optimistic job: no event earlier can happen any more.")),
      gvt_rounds(Counter(registry, "meshsim_node_gvt_rounds_total", "GVT rounds this node completed.")),
      optimistic_events_run(Counter(registry, "meshsim_node_optimistic_events_run_total",
                                    "Events run ahead of GVT, whether later committed or rolled back.")),
      rollbacks(Counter(registry, "meshsim_node_rollbacks_total",
                        "Rollbacks of an LP on this node (a straggler or an anti-message).")),
      rolled_back_events(Counter(registry, "meshsim_node_rolled_back_events_total",
                                 "Events undone by rollbacks on this node.")),
      anti_messages(Counters(registry, "meshsim_node_anti_messages_total",
                             "Anti-messages cancelling events across nodes, by direction (sent, received).")),
      anti_messages_sent(anti_messages.Add({{"direction", "sent"}})),
      anti_messages_received(anti_messages.Add({{"direction", "received"}})),
      saved_state_bytes(Gauge(registry, "meshsim_node_saved_state_bytes",
                              "Memory this node keeps to undo events it ran ahead of GVT.")),
      job_memory(Gauges(registry, "meshsim_node_job_memory_bytes",
                        "Bytes the simulation kernel of this node's job holds, by part (lp_states, "
                        "lp_records, pending_events, saved_states); at the job's start and end.")),
      job_memory_lp_states(job_memory.Add({{"part", "lp_states"}})),
      job_memory_lp_records(job_memory.Add({{"part", "lp_records"}})),
      job_memory_pending_events(job_memory.Add({{"part", "pending_events"}})),
      job_memory_saved_states(job_memory.Add({{"part", "saved_states"}})),
      job_peak_resident_bytes(
          Gauge(registry, "meshsim_node_job_peak_resident_bytes",
                "Peak resident memory of this node process since its job was prepared.")) {
  // Every result exists from the start at zero, so rate() sees the first.
  for (const char* result : {kJobCompleted, kJobAborted, kJobFailed}) jobs.Add({{"result", result}});
}

void NodeMetrics::CountJobEnd(const absl::Status& status) {
  const char* result = status.ok() ? kJobCompleted : absl::IsAborted(status) ? kJobAborted : kJobFailed;
  jobs.Add({{"result", result}}).Increment();
}

}  // namespace meshsim::node
