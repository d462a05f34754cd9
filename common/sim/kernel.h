// The simulation kernel of one node for one job: the LPs this node owns,
// their pending events and the model callbacks. It knows nothing of
// networks: events for LPs of other nodes go to a RemoteSink, and events
// from other nodes come in through Deliver(). The window loop that ties
// kernels together lives in node/.
//
// Thread-safety: none; a kernel belongs to one thread.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_codec.h"
#include "common/frame/mailbox_address.h"
#include "common/sim/bound_lp.h"
#include "common/sim/event_queue.h"
#include "common/sim/optimism_bound.h"
#include "common/sim/partition.h"
#include "common/sim/processed_history.h"
#include "meshsim/model.h"

namespace meshsim::sim {

// Receives events for other ranks: direct events for the LPs they own, and
// mailbox posts (dst_lp = MailboxAddress(id)) for the mailboxes they
// subscribe to.
class RemoteSink {
 public:
  virtual ~RemoteSink() = default;
  virtual void Route(uint32_t rank, const Event& event) = 0;
  // An anti-message: cancels the event routed earlier to `rank` with the
  // same key (time, src_lp, src_seq, dst_lp; the payload is empty). Sent
  // only by a kernel with rollback enabled; the default refuses it, for
  // sinks that drive conservative windows.
  virtual void Cancel(uint32_t rank, const Event& event);
};

// One entry of a job's mailbox table. The table lists every mailbox any LP
// subscribed to, sorted by name; an entry's index is its MailboxId.
struct MailboxRoute {
  std::string name;
  std::vector<uint32_t> ranks;  // ranks with at least one subscriber, ascending
};

struct MailboxCounters {
  uint64_t posts = 0;          // Post() calls by this node's LPs
  uint64_t deliveries = 0;     // mailbox events enqueued for this node's subscribers
  uint64_t remote_events = 0;  // posts sent on to other nodes: one per remote subscribing node
};

struct OptimisticCounters {
  uint64_t processed = 0;         // events run, those undone later included
  uint64_t rolled_back = 0;       // events undone
  uint64_t rollbacks = 0;         // LPs rolled back: by a straggler, or a cancelled event they had run
  uint64_t antis_sent = 0;        // anti-messages to other nodes
  uint64_t antis_received = 0;    // anti-messages from other nodes
  uint64_t fossil_collected = 0;  // processed events freed below GVT: final
  uint64_t contract_checks = 0;   // events run twice by the model-contract check
};

struct KernelOptions {
  uint64_t seed = 0;
  double end_time = 0;
  double lookahead = 0;
  uint32_t rank = 0;
};

// Bytes a kernel holds, by what they are for.
struct KernelMemory {
  size_t lp_states = 0;       // the LPs' state blocks
  size_t lp_records = 0;      // per LP: random stream, counters, optimistic bookkeeping
  size_t pending_events = 0;  // the event queue: keys, buckets, payload slots
  size_t saved_states = 0;    // optimistic only: what undoing events needs
  size_t total() const { return lp_states + lp_records + pending_events + saved_states; }
};

struct KernelOutcome {
  uint64_t digest = 0;           // sum over this node's LPs of each LP's state hash
  std::vector<int64_t> summary;  // per Model::summary_fields()
  SeriesSpec series_spec;
  std::vector<std::vector<int64_t>> series;  // per series_spec.names, one value per point
};

class Kernel {
 public:
  // `partition` and `sink` must outlive the kernel.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Kernel>> Create(const KernelOptions& options,
                                                                      std::unique_ptr<Model> model,
                                                                      const PartitionMap* partition,
                                                                      RemoteSink* sink);

  // Runs Model::Init for every local LP.
  [[nodiscard]] absl::Status Init();

  // After Init: the mailboxes this node's LPs subscribed to, sorted.
  std::vector<std::string> subscribed_mailboxes() const;
  // Installs the job's mailbox table, built by the coordinator from every
  // node's subscribed_mailboxes(), and sends the posts made during Init.
  // INVALID_ARGUMENT when the table is unsorted or disagrees with this
  // node's subscriptions, or a post of Init has no subscriber. Required
  // before RunWindow() when Init subscribed or posted.
  [[nodiscard]] absl::Status InstallMailboxes(std::vector<MailboxRoute> table);
  size_t mailbox_count() const { return mailboxes_.size(); }
  bool has_local_subscribers(MailboxId id) const {
    return id < mailboxes_.size() && !mailboxes_[id].local_subscribers.empty();
  }
  const MailboxCounters& mailbox_counters() const { return mailbox_counters_; }

  // Processes, in order, every pending event with time < min(window_end,
  // end_time). Events sent meanwhile are at least one lookahead later, so
  // none of them falls in this window.
  [[nodiscard]] absl::Status RunWindow(double window_end);

  // Enqueues an event from another node. Precondition: dst_lp is local, or
  // a mailbox address with has_local_subscribers(). With rollback enabled,
  // an event in the past of its LP (a straggler) first rolls that LP back
  // to just before it.
  void Deliver(const Event& event) {
    if (history_) [[unlikely]] {
      DeliverOptimistic(event);
    } else if (IsMailboxAddress(event.dst_lp)) {
      FanOut(MailboxOfAddress(event.dst_lp), event);
    } else {
      queue_.Push(event);
    }
  }

  // Optimistic synchronization (Time Warp; docs/synchronization.md).
  // Switches the kernel to processing events ahead of its peers, keeping
  // what undoes each (copy state saving: the LP's state block, stream and
  // send counter). After Init or Restore and InstallMailboxes; once.
  [[nodiscard]] absl::Status EnableRollback(const OptimismBound& bound);
  bool rollback_enabled() const { return history_ != nullptr; }
  // Processes pending events in order while their time is below `until`,
  // end_time and gvt + bound.time_window, at most `max_events` of them (so
  // the caller can read its links in between). Returns how many ran.
  [[nodiscard]] absl::StatusOr<uint64_t> RunOptimistic(double gvt, double until, uint64_t max_events);
  // The model-contract check (scenario optimism.check_every): every
  // `every`th event RunOptimistic runs is run again from its saved state,
  // its sends kept in, and must leave the same state block, stream, send
  // counter and sends; otherwise RunOptimistic fails, naming `model_name`
  // and the event. Rollback replays events the same way, so a model that
  // fails this check would give a wrong result. After EnableRollback.
  void EnableContractCheck(uint64_t every, std::string_view model_name);
  // Undoes every event at or after `time` on every local LP, cancelling
  // what they sent: for a checkpoint at GVT `time`, where the kernel must
  // hold exactly the events before it.
  void RollBackTo(double time);
  // An anti-message from another node: cancels the pending event with its
  // key, or rolls back the LP that processed it; one that comes before its
  // event waits for it and annihilates it on arrival.
  void DeliverAnti(const Event& event);
  // Frees what is kept of events earlier than `gvt`: nothing can undo them.
  void FossilCollect(double gvt);
  const OptimisticCounters& optimistic_counters() const { return optimistic_; }
  // Events no rollback can undo any more: below the last GVT fossil
  // collection saw (committed_events() also counts those run ahead of it).
  uint64_t events_below_gvt() const { return committed_at_rollback_start_ + optimistic_.fossil_collected; }
  size_t saved_events() const { return history_ ? history_->size() : 0; }
  size_t saved_bytes() const { return history_ ? history_->bytes() : 0; }
  // What this kernel holds, by part (capacities: vectors keep theirs, so
  // these are high-water marks). Not a hot path.
  KernelMemory memory() const;
  // What memory() would report for `local_lps` LPs of `state_bytes` each
  // with `pending_events` pending, before any kernel exists (the
  // coordinator's admission by memory). Conservative synchronization:
  // saved states are not in it.
  static KernelMemory Estimate(uint64_t local_lps, size_t state_bytes, uint64_t pending_events,
                               size_t max_payload_bytes);
  // Bytes between two LPs' state blocks: 8-byte aligned.
  static constexpr size_t StateStride(size_t state_bytes) { return (state_bytes + 7) & ~size_t{7}; }

  // Time of the next pending event, +inf when there is none.
  double next_event_time() const {
    return queue_.empty() ? std::numeric_limits<double>::infinity() : queue_.top_time();
  }
  uint64_t committed_events() const { return committed_; }
  size_t pending_events() const { return queue_.size(); }
  size_t local_lp_count() const { return local_lps_.size(); }
  const Model& model() const { return *model_; }

  // Folds every local LP's final state. Call once, after the last window.
  KernelOutcome Fold();

  // Checkpoints, taken at a window barrier, where every event sent so far
  // sits in some node's queue. Writes this node's LPs (in ascending order)
  // and pending events. `out` was started with this node's header.
  void SaveCheckpoint(checkpoint::CheckpointPartWriter& out);
  // In place of Init: takes this node's LPs and pending events from the
  // parts of one checkpoint, written on any number of nodes (pass them
  // all). Rank 0 also takes the job's mailbox counters so far, so the sums
  // over nodes continue. FAILED_PRECONDITION when the parts come from
  // another model build; DATA_LOSS when an LP is missing or its state does
  // not restore.
  [[nodiscard]] absl::Status Restore(std::span<const checkpoint::CheckpointPart> parts);

 private:
  friend class LpContext;
  Kernel(const KernelOptions& options, std::unique_ptr<Model> model, const PartitionMap* partition,
         RemoteSink* sink);
  enum class Phase { kCreated, kInit, kRestoring, kAwaitingMailboxes, kRunning };
  struct Mailbox {
    std::vector<LpId> local_subscribers;  // ascending
    std::vector<uint32_t> remote_ranks;   // ascending
  };
  // A post made during Init, sent once the mailbox table is known.
  struct DeferredPost {
    LpId src_lp;
    uint64_t src_seq;
    double time;
    std::string mailbox;
    std::vector<std::byte> payload;
  };
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };

  LpContext& Bind(uint32_t local_index, double now);
  void Prefetch(uint32_t local_index) const;
  absl::Status CheckTiming(const BoundLp& from, std::string_view verb, double delay,
                           std::span<const std::byte> payload) const;
  absl::Status RefuseWhileRestoring(const BoundLp& from, std::string_view verb) const;
  absl::Status CheckMailboxName(const BoundLp& from, std::string_view verb, std::string_view name) const;
  absl::Status Route(BoundLp& from, LpId dst_lp, double delay, std::span<const std::byte> payload);
  absl::Status Subscribe(const BoundLp& lp, std::string_view mailbox);
  absl::Status Post(BoundLp& from, std::string_view mailbox, double delay,
                    std::span<const std::byte> payload);
  absl::Status SendPost(std::string_view mailbox, const Event& event);
  // Enqueues `event` once for each local subscriber of `id`.
  void FanOut(MailboxId id, Event event);

  // A local event into the queue; with rollback enabled, first rolls back
  // a receiver that already ran past it.
  void Enqueue(const Event& event) {
    if (history_) [[unlikely]] {
      EnqueueOptimistic(event);
    } else {
      queue_.Push(event);
    }
  }
  void EnqueueOptimistic(const Event& event);
  void DeliverOptimistic(const Event& event);
  // Undoes every event local LP `local` ran at or after `from` (newest
  // first), re-enqueueing them except `from` itself when `drop_from`, and
  // cancels what they sent.
  void RollBack(uint32_t local, const Event& from, bool drop_from);
  void CancelSends(const ProcessedHistory::Record& record);
  // Cancels a local event: removes it from the queue, or rolls back the LP
  // that ran it. False when neither holds it (it has not arrived yet).
  bool CancelLocal(const Event& key);
  void DrainCancels();
  bool HasProcessed(uint32_t local, const Event& key) const;

  // The model-contract check (kernel_contract_check.cc).
  struct CheckedSend {
    double time;
    uint64_t destination;  // an LP, or a hash of the mailbox's name
    uint64_t payload_hash;
    bool operator==(const CheckedSend&) const = default;
  };
  struct ContractCheck {
    uint64_t every = 0;  // 0: off
    uint64_t until_next = 0;
    std::string model_name;
    bool recording = false;             // the sampled event runs: its sends are noted
    bool rerunning = false;             // it runs again: its sends are noted, and kept in
    std::vector<CheckedSend> sends[2];  // of the first run and of the re-run
    std::vector<std::byte> state_after;
  };
  // Notes a send of the sampled event; false on the re-run, whose sends
  // must go nowhere.
  bool NoteForCheck(double time, uint64_t destination, std::span<const std::byte> payload);
  // Runs the sampled event (record `record`, on local LP `local`) again
  // from its saved state and compares.
  absl::Status CheckByRerunning(uint64_t record, uint32_t local);

  KernelOptions options_;
  std::unique_ptr<Model> model_;
  const PartitionMap* partition_;
  RemoteSink* sink_;
  size_t max_payload_bytes_;
  EventQueue queue_;
  OwnedLps local_lps_;
  std::vector<Rng> rngs_;
  std::vector<uint64_t> sent_;
  std::vector<uint64_t> processed_;
  std::vector<std::byte> state_;  // state_stride_ bytes per local LP
  size_t state_bytes_;
  size_t state_stride_;
  BoundLp context_;  // the one LP a callback runs for
  uint64_t committed_ = 0;

  Phase phase_ = Phase::kCreated;
  std::map<std::string, std::vector<LpId>, std::less<>> subscriptions_;  // filled by Init
  std::vector<DeferredPost> deferred_posts_;
  std::vector<Mailbox> mailboxes_;  // by MailboxId
  std::unordered_map<std::string, MailboxId, NameHash, std::equal_to<>> mailbox_ids_;
  MailboxCounters mailbox_counters_;

  // Optimistic synchronization only (kernel_optimistic.cc).
  std::unique_ptr<ProcessedHistory> history_;
  OptimismBound bound_;
  // Per local LP: its newest kept record (or kNone) and that event's time,
  // side by side so that the check of every local send for a straggler
  // costs one cache line, not two.
  struct NewestRecord {
    uint64_t index;
    double time;
  };
  std::vector<NewestRecord> newest_;
  std::vector<Event> cancels_;      // local events still to cancel (a worklist, not recursion)
  std::vector<Event> early_antis_;  // anti-messages waiting for their event
  OptimisticCounters optimistic_;
  ContractCheck check_;
  uint64_t committed_at_rollback_start_ = 0;  // from Init or a restored checkpoint
};

}  // namespace meshsim::sim
