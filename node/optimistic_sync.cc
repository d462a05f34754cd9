#include "node/optimistic_sync.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "common/status/status.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
// Events per turn of the loop: between turns the node takes the frames that
// are in (stragglers roll back less the sooner they arrive) and sends what
// the turn sent.
constexpr uint64_t kBatchEvents = 256;
// A busy node cuts a round at most this often; an idle one as soon as it
// may. Rounds cost one frame per peer each, which over TCP is dear (below):
// there, cutting every 1-2 ms and flushing after 0.5-1 ms instead of
// 200 us / 100 us ran phold-bench on 2 tcp nodes 1.25-1.35x faster with no
// loss of efficiency; past 1 ms the gain was within the noise
// (docs/benchmarks.md).
constexpr auto kCutInterval = std::chrono::microseconds(200);
constexpr auto kTcpCutInterval = std::chrono::milliseconds(2);
constexpr auto kPollSlice = std::chrono::milliseconds(50);
// Over TCP a frame costs tens of microseconds of CPU (system calls, the
// I/O threads' wake-ups), so what a turn sends waits for more, up to this
// age or size; over a ring a frame is cheap and each turn's goes at once.
constexpr auto kTcpFlushAge = std::chrono::milliseconds(1);
constexpr uint32_t kTcpFlushEvents = 2048;
// The adapted window starts at this many lookaheads, never goes below one,
// and changes after at least this many events ran.
constexpr double kInitialWindowLookaheads = 8;
constexpr uint64_t kAdaptSampleEvents = 4096;

}  // namespace

OptimisticSync::OptimisticSync(const JobParts& parts)
    : parts_(parts),
      peers_(parts.links->ranks()),
      window_(std::isfinite(parts.optimism.time_window) ? parts.optimism.time_window
                                                        : kInitialWindowLookaheads * parts.lookahead),
      fixed_window_(std::isfinite(parts.optimism.time_window)),
      cut_interval_(kCutInterval) {
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank != parts_.rank && !parts_.links->is_shm(rank)) cut_interval_ = kTcpCutInterval;
  }
  for (Peer& peer : peers_) peer.writer.Begin(parts_.run_id, 0, parts_.rank);
}

void OptimisticSync::Route(uint32_t rank, const sim::Event& event) { peers_[rank].writer.Append(event); }

void OptimisticSync::Cancel(uint32_t rank, const sim::Event& event) { peers_[rank].writer.AppendAnti(event); }

absl::StatusOr<RunSummary> OptimisticSync::Run(const RunStart& start) {
  sim::Kernel& kernel = *parts_.kernel;
  // The window past GVT is this protocol's (it adapts it); the kernel
  // enforces the bound in saved events.
  sim::OptimismBound bound = parts_.optimism;
  bound.time_window = kInfinity;
  MESHSIM_RETURN_IF_ERROR(kernel.EnableRollback(bound));
  if (parts_.contract_check_every > 0) {
    kernel.EnableContractCheck(parts_.contract_check_every, parts_.model_name);
    spdlog::info(
        "job {} rank {}: checking model '{}' against the optimistic contract: every {}th event runs twice",
        parts_.job_id, parts_.rank, parts_.model_name, parts_.contract_check_every);
  }
  // Round 0's cut is before init (or at the checkpoint): nothing was held
  // below its start then, and what init sent goes out with the first cut.
  cut_bound_ = start.restored ? start.cut.next_time : 0;
  late_min_ = kInfinity;
  gvt_ = cut_bound_;
  last_heard_ = SteadyClock::now();
  const auto loop_start = SteadyClock::now();
  MESHSIM_RETURN_IF_ERROR(Cut());
  MESHSIM_RETURN_IF_ERROR(RunLoop());
  parts_.metrics->PublishOptimistic(kernel, parts_.end_time, rounds_done_, /*exact=*/true);
  const sim::OptimisticCounters& c = kernel.optimistic_counters();
  spdlog::info(
      "job {} rank {}: optimistic run done in {:.3f} s, {} GVT rounds; {} events run, {} rolled back in {} "
      "rollbacks (efficiency {:.1f}%), anti-messages {} sent, {} received; window past GVT {}",
      parts_.job_id, parts_.rank, SecondsSince(loop_start), rounds_done_, c.processed, c.rolled_back,
      c.rollbacks,
      c.processed == 0 ? 100.0 : 100.0 * double(c.processed - c.rolled_back) / double(c.processed),
      c.antis_sent, c.antis_received, window_);
  if (c.contract_checks > 0) {
    spdlog::info("job {} rank {}: model '{}' kept the optimistic contract in {} events run twice",
                 parts_.job_id, parts_.rank, parts_.model_name, c.contract_checks);
  }
  parts_.links->PublishMetrics();
  return RunSummary{start.cut.window + rounds_done_, SecondsSince(loop_start)};
}

absl::Status OptimisticSync::RunLoop() {
  sim::Kernel& kernel = *parts_.kernel;
  while (!done_) {
    // Relaxed: the flag publishes nothing but itself.
    if (parts_.abort->load(std::memory_order_relaxed)) return absl::AbortedError("job aborted");
    // Alone, there is nothing to read (and a look costs a system call).
    if (peers_.size() > 1) MESHSIM_RETURN_IF_ERROR(TakeFrames(Duration::zero()));
    if (stop_ != StopKind::kNone) {
      if (AllPeersStopped()) {
        MESHSIM_RETURN_IF_ERROR(FinishStop());
      } else {
        MESHSIM_RETURN_IF_ERROR(TakeFrames(kPollSlice));
      }
      continue;
    }
    const double until = std::min(gvt_ + window_, parts_.end_time);
    MESHSIM_ASSIGN_OR_RETURN(const uint64_t ran, kernel.RunOptimistic(gvt_, until, kBatchEvents));
    if (ran < kBatchEvents && kernel.next_event_time() >= until && until < parts_.end_time) {
      held_by_window_ = true;
    }
    MESHSIM_RETURN_IF_ERROR(SendWhatIsDue());
    if (CanCut() && (ran == 0 || SteadyClock::now() - last_cut_ >= cut_interval_)) {
      MESHSIM_RETURN_IF_ERROR(Cut());
    } else if (ran == 0) {
      // Nothing to run until a frame comes: a straggler, or a cut that lets
      // GVT (and so the bound) move on.
      MESHSIM_RETURN_IF_ERROR(TakeFrames(kPollSlice));
    }
  }
  return absl::OkStatus();
}

absl::Status OptimisticSync::TakeFrames(Duration wait) {
  PeerLinks& links = *parts_.links;
  MESHSIM_ASSIGN_OR_RETURN(bool got, links.Receive(&incoming_, &incoming_origin_, wait));
  if (!got) {
    if (wait > Duration::zero() && SteadyClock::now() - last_heard_ > parts_.stall_timeout) return Stalled();
    return absl::OkStatus();
  }
  last_heard_ = SteadyClock::now();
  while (got) {
    MESHSIM_RETURN_IF_ERROR(TakeFrame(incoming_, incoming_origin_));
    MESHSIM_ASSIGN_OR_RETURN(got, links.Receive(&incoming_, &incoming_origin_, Duration::zero()));
  }
  return absl::OkStatus();
}

absl::Status OptimisticSync::TakeFrame(std::vector<std::byte>& bytes, const FrameOrigin& origin) {
  const std::optional<frame::FrameHeader> header = AcceptHeader(parts_, bytes, origin, /*optimistic=*/true);
  if (!header) return absl::OkStatus();  // not this job's, or not from a peer: dropped and counted
  const uint32_t source = header->source_rank;
  Peer& peer = peers_[source];
  if (peer.stopped) {
    // The peer passed the stop already; this belongs after it here too.
    peer.after_stop.emplace_back();
    peer.after_stop.back().swap(bytes);
    return absl::OkStatus();
  }
  const bool cut = (header->flags & frame::kFlagCut) != 0;
  auto violation = [&](std::string_view what) {
    parts_.links->Drop(what);
    return absl::DataLossError(StrCat("job ", parts_.job_id, ": ", what));
  };
  if (header->window != peer.round) {
    return violation(
        StrCat("frame of round ", header->window, " from rank ", source, ", which is in round ", peer.round));
  }
  // A node leaves a round only once every peer has entered it.
  if (cut && header->window > round_) {
    return violation(StrCat("rank ", source, " left round ", header->window, ", which rank ", parts_.rank,
                            " has not entered"));
  }
  MESHSIM_RETURN_IF_ERROR(Deliver(*header, bytes));
  parts_.links->CountReceived(source, bytes.size());
  if (cut) {
    peer.reports[header->window % kReportSlots] = {header->next_time,
                                                   (header->flags & frame::kFlagCheckpoint) != 0};
    ++peer.round;
    MESHSIM_RETURN_IF_ERROR(AdvanceGvt());
  }
  if ((header->flags & frame::kFlagStop) != 0) peer.stopped = true;
  return absl::OkStatus();
}

absl::Status OptimisticSync::Deliver(const frame::FrameHeader& header, std::span<const std::byte> bytes) {
  frame::DecodeLimits limits = *parts_.limits;
  limits.anti_messages = true;
  auto view = frame::FrameCodec::Decode(bytes, limits);
  if (!view.ok()) {
    parts_.links->Drop(ToStd(view.status().message()));
    return absl::DataLossError(StrCat("job ", parts_.job_id, ": frame from rank ", header.source_rank,
                                      " cannot be taken: ", view.status().message()));
  }
  // Checked whole before anything is taken. Nothing can be earlier than
  // GVT: that is what GVT bounds.
  bool valid = true;
  double earliest = kInfinity;
  view->ForEachMessage([&](const sim::Event& event, bool /*anti*/) {
    valid = valid && IsForThisNode(parts_, event) && event.time >= gvt_;
    earliest = std::min(earliest, event.time);
  });
  if (!valid) {
    parts_.links->Drop(StrCat("frame from rank ", header.source_rank,
                              " has an event for another node, for a mailbox with no subscriber here, or "
                              "earlier than GVT ",
                              gvt_));
    return absl::DataLossError(
        StrCat("job ", parts_.job_id, ": frame from rank ", header.source_rank, " breaks the protocol"));
  }
  // A message of the round before this node's reached it after its cut:
  // its report must cover it.
  if (header.window < round_) late_min_ = std::min(late_min_, earliest);
  sim::Kernel& kernel = *parts_.kernel;
  view->ForEachMessage([&](const sim::Event& event, bool anti) {
    if (anti) {
      kernel.DeliverAnti(event);
    } else {
      kernel.Deliver(event);
    }
  });
  return absl::OkStatus();
}

absl::Status OptimisticSync::SendTo(uint32_t rank, uint32_t flags, double report) {
  Peer& peer = peers_[rank];
  const uint32_t events = peer.writer.event_count();
  absl::Status sent =
      parts_.links->Send(rank, peer.writer.Finish(report, frame::kFlagOptimistic | flags), events);
  peer.sent_since_flush = false;
  // A cut's frame is the round's last; the next one is tagged with the next.
  peer.writer.Begin(parts_.run_id, (flags & frame::kFlagCut) != 0 ? round_ + 1 : round_, parts_.rank);
  if (!sent.ok()) [[unlikely]]
    return Annotate(sent, StrCat("job ", parts_.job_id, " round ", round_, " to rank ", rank));
  return absl::OkStatus();
}

absl::Status OptimisticSync::SendWhatIsDue() {
  std::optional<TimePoint> now;  // read once, and only when a TCP peer has something
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    Peer& peer = peers_[rank];
    const uint32_t events = peer.writer.event_count();
    if (events == 0) continue;
    if (!parts_.links->is_shm(rank) && events < kTcpFlushEvents) {
      if (!now) now = SteadyClock::now();
      if (!peer.sent_since_flush) {
        peer.sent_since_flush = true;
        peer.oldest_unsent = *now;
        continue;
      }
      if (*now - peer.oldest_unsent < kTcpFlushAge) continue;
    }
    MESHSIM_RETURN_IF_ERROR(SendTo(rank, 0, gvt_));
  }
  return absl::OkStatus();
}

absl::Status OptimisticSync::Flush(uint32_t flags, double report) {
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank != parts_.rank) MESHSIM_RETURN_IF_ERROR(SendTo(rank, flags, report));
  }
  return absl::OkStatus();
}

bool OptimisticSync::CanCut() const {
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank != parts_.rank && peers_[rank].round < round_) return false;
  }
  return true;
}

absl::Status OptimisticSync::Cut() {
  const Report report{std::min(cut_bound_, late_min_), parts_.checkpoints->Want()};
  own_reports_[round_ % kReportSlots] = report;
  MESHSIM_RETURN_IF_ERROR(
      Flush(frame::kFlagCut | (report.wants_checkpoint ? frame::kFlagCheckpoint : 0), report.bound));
  ++round_;
  cut_bound_ = parts_.kernel->next_event_time();
  late_min_ = kInfinity;
  last_cut_ = SteadyClock::now();
  return AdvanceGvt();
}

absl::Status OptimisticSync::AdvanceGvt() {
  for (;;) {
    const uint64_t k = gvt_round_;
    if (round_ <= k) return absl::OkStatus();
    for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
      if (rank != parts_.rank && peers_[rank].round <= k) return absl::OkStatus();
    }
    Report all = own_reports_[k % kReportSlots];
    for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
      if (rank == parts_.rank) continue;
      const Report& report = peers_[rank].reports[k % kReportSlots];
      all.bound = std::min(all.bound, report.bound);
      all.wants_checkpoint = all.wants_checkpoint || report.wants_checkpoint;
    }
    gvt_ = std::max(gvt_, all.bound);
    ++gvt_round_;
    ++rounds_done_;
    parts_.kernel->FossilCollect(gvt_);
    AdaptWindow();
    parts_.metrics->PublishOptimistic(*parts_.kernel, std::min(gvt_, parts_.end_time), rounds_done_,
                                      /*exact=*/false);
    if (stop_ != StopKind::kNone) continue;
    if (gvt_ >= parts_.end_time) {
      MESHSIM_RETURN_IF_ERROR(BeginStop(StopKind::kEnd, parts_.end_time));
    } else if (all.wants_checkpoint && (!checkpointed_ || k > last_checkpoint_round_ + 2)) {
      stop_round_ = k;
      MESHSIM_RETURN_IF_ERROR(BeginStop(StopKind::kCheckpoint, gvt_));
    }
  }
}

absl::Status OptimisticSync::BeginStop(StopKind kind, double at) {
  stop_ = kind;
  stop_time_ = at;
  // Nothing at or after the stop may be in the cut: undo it (cancelling
  // what it sent rides in the stop frames). At the end time nothing is.
  if (kind == StopKind::kCheckpoint) {
    parts_.kernel->RollBackTo(at);
    // What the rollback put back in the queue no message brought, so the
    // bound taken at this round's cut does not cover it: `at` does.
    cut_bound_ = std::min(cut_bound_, at);
  }
  return Flush(frame::kFlagStop, gvt_);
}

bool OptimisticSync::AllPeersStopped() const {
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank != parts_.rank && !peers_[rank].stopped) return false;
  }
  return true;
}

absl::Status OptimisticSync::FinishStop() {
  if (stop_ == StopKind::kEnd) {
    done_ = true;
    return absl::OkStatus();
  }
  // Every frame sent before the stop is in, nothing after it is taken: a
  // consistent cut at stop_time_.
  parts_.checkpoints->Save(*parts_.kernel, {stop_round_, stop_time_});
  parts_.metrics->PublishOptimistic(*parts_.kernel, stop_time_, rounds_done_, /*exact=*/true);
  checkpointed_ = true;
  last_checkpoint_round_ = stop_round_;
  stop_ = StopKind::kNone;
  for (Peer& peer : peers_) peer.stopped = false;
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    std::deque<std::vector<std::byte>> kept;
    kept.swap(peers_[rank].after_stop);
    for (std::vector<std::byte>& bytes : kept) {
      MESHSIM_RETURN_IF_ERROR(TakeFrame(bytes, {.ring_rank = -1, .sender = {}, .verified = true}));
    }
  }
  return absl::OkStatus();
}

void OptimisticSync::AdaptWindow() {
  if (fixed_window_) return;
  const sim::OptimisticCounters& counters = parts_.kernel->optimistic_counters();
  const uint64_t run = counters.processed - run_at_adapt_;
  if (run < kAdaptSampleEvents) return;
  const uint64_t undone = counters.rolled_back - undone_at_adapt_;
  if (undone * 5 > run) {
    window_ = std::max(window_ / 2, parts_.lookahead);
  } else if (undone * 10 < run && held_by_window_) {
    window_ = std::min(window_ * 2, parts_.end_time);
  }
  run_at_adapt_ = counters.processed;
  undone_at_adapt_ = counters.rolled_back;
  held_by_window_ = false;
}

absl::Status OptimisticSync::Stalled() const {
  std::vector<uint32_t> silent;
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank == parts_.rank) continue;
    const Peer& peer = peers_[rank];
    if (stop_ != StopKind::kNone ? !peer.stopped : peer.round < round_) silent.push_back(rank);
  }
  return absl::DeadlineExceededError(StrCat(
      "job ", parts_.job_id, " GVT round ", round_, " (GVT ", gvt_, "): no frame from rank(s) ",
      StrJoin(silent, ","), " for ", std::chrono::duration<double>(parts_.stall_timeout).count(), " s"));
}

}  // namespace meshsim::node
