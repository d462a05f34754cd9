#include "node/conservative_sync.h"

#include <algorithm>
#include <limits>

#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::node {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr auto kPollSlice = std::chrono::milliseconds(50);

}  // namespace

ConservativeSync::ConservativeSync(const JobParts& parts)
    : parts_(parts), peers_(parts.links->ranks()), min_sent_time_(kInfinity) {
  BeginFrames(0);
}

void ConservativeSync::BeginFrames(uint64_t window) {
  for (PeerWindow& peer : peers_) peer.writer.Begin(parts_.run_id, window, parts_.rank);
}

void ConservativeSync::Route(uint32_t rank, const sim::Event& event) {
  peers_[rank].writer.Append(event);
  min_sent_time_ = std::min(min_sent_time_, event.time);
}

absl::StatusOr<RunSummary> ConservativeSync::Run(const RunStart& start) {
  const auto first = SteadyClock::now();
  sim::Kernel& kernel = *parts_.kernel;
  uint64_t windows = start.cut.window;
  double next = start.cut.next_time;
  if (start.restored) {
    // Frames continue from the checkpoint's window; nothing was sent since.
    BeginFrames(windows + 1);
  } else {
    // Init runs at time 0, so everything it sent is at least one lookahead on.
    MESHSIM_ASSIGN_OR_RETURN(next, Exchange(0, parts_.lookahead, false));
    parts_.metrics->PublishWindow(kernel, 0, SecondsSince(first));
    parts_.links->PublishMetrics();
  }
  // The loop's time (and so the job's event rate) starts when every node
  // has passed the first barrier: before it, the first node started waits
  // for the last one, which is start-up, not simulation.
  const auto loop_start = SteadyClock::now();
  while (next < parts_.end_time) {
    const auto window_start = SteadyClock::now();
    const double window_end = next + parts_.lookahead;
    MESHSIM_RETURN_IF_ERROR(kernel.RunWindow(window_end));
    ++windows;
    const double reached = std::min(window_end, parts_.end_time);
    parts_.metrics->PublishProgress(kernel, reached);
    MESHSIM_ASSIGN_OR_RETURN(next, Exchange(windows, window_end, parts_.checkpoints->Want()));
    parts_.metrics->PublishWindows(windows);
    // After the exchange every event sent so far sits in some node's
    // queue: a consistent cut, so this node's part is complete.
    if (checkpoint_agreed_ && next < parts_.end_time) parts_.checkpoints->Save(kernel, {windows, next});
    parts_.metrics->PublishWindow(kernel, reached, SecondsSince(window_start));
    parts_.links->PublishMetrics();
  }
  parts_.metrics->PublishProgress(kernel, parts_.end_time);
  return RunSummary{windows, SecondsSince(loop_start)};
}

absl::StatusOr<double> ConservativeSync::Exchange(uint64_t window, double sent_floor, bool want_checkpoint) {
  // This node's bound: nothing it processes next, and nothing it just sent,
  // is earlier. The minimum of all nodes' bounds is the next window start.
  double global_next = std::min(parts_.kernel->next_event_time(), min_sent_time_);
  checkpoint_agreed_ = want_checkpoint;
  MESHSIM_RETURN_IF_ERROR(SendFrames(window, global_next, want_checkpoint));
  MESHSIM_RETURN_IF_ERROR(AwaitFrames(window, sent_floor, &global_next));
  BeginFrames(window + 1);
  min_sent_time_ = kInfinity;
  return global_next;
}

absl::Status ConservativeSync::SendFrames(uint64_t window, double next_bound, bool want_checkpoint) {
  const uint32_t flags = want_checkpoint ? frame::kFlagCheckpoint : 0;
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    PeerWindow& peer = peers_[rank];
    peer.received = rank == parts_.rank;
    if (peer.received) continue;
    const uint32_t events = peer.writer.event_count();
    // The message is built only on failure: this runs every window.
    if (absl::Status sent = parts_.links->Send(rank, peer.writer.Finish(next_bound, flags), events);
        !sent.ok()) [[unlikely]] {
      return Annotate(sent, StrCat("job ", parts_.job_id, " window ", window, " to rank ", rank));
    }
  }
  return absl::OkStatus();
}

absl::Status ConservativeSync::AwaitFrames(uint64_t window, double sent_floor, double* global_next) {
  size_t missing = peers_.size() - 1;
  for (PeerWindow& peer : peers_) {
    if (!peer.stashed) continue;
    peer.stashed = false;
    if (Accept(peer.stash, {.ring_rank = -1, .sender = {}, .verified = true}, window, sent_floor,
               global_next))
      --missing;
  }
  // The stall clock starts at the first wait that comes back empty: a frame
  // usually arrives within microseconds, and reading the clock each time
  // would cost about as much as taking the frame.
  constexpr TimePoint kNotWaiting = TimePoint::max();
  TimePoint quiet_since = kNotWaiting;
  while (missing > 0) {
    // Relaxed: the flag publishes nothing but itself.
    if (parts_.abort->load(std::memory_order_relaxed)) return absl::AbortedError("job aborted");
    MESHSIM_ASSIGN_OR_RETURN(bool got, parts_.links->Receive(&incoming_, &incoming_origin_, kPollSlice));
    if (got && Accept(incoming_, incoming_origin_, window, sent_floor, global_next)) {
      --missing;
      quiet_since = kNotWaiting;
    } else if (quiet_since == kNotWaiting) {
      quiet_since = SteadyClock::now();
    } else if (SteadyClock::now() - quiet_since > parts_.stall_timeout) {
      return Stalled(window);
    }
  }
  return absl::OkStatus();
}

absl::Status ConservativeSync::Stalled(uint64_t window) const {
  std::vector<uint32_t> silent;
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (!peers_[rank].received) silent.push_back(rank);
  }
  return absl::DeadlineExceededError(
      StrCat("job ", parts_.job_id, " window ", window, ": no frame from rank(s) ", StrJoin(silent, ","),
             " for ", std::chrono::duration<double>(parts_.stall_timeout).count(), " s"));
}

bool ConservativeSync::Accept(std::vector<std::byte>& bytes, const FrameOrigin& origin, uint64_t window,
                              double sent_floor, double* global_next) {
  PeerLinks& links = *parts_.links;
  const std::optional<frame::FrameHeader> header = AcceptHeader(parts_, bytes, origin, /*optimistic=*/false);
  if (!header) return false;
  PeerWindow& peer = peers_[header->source_rank];
  if (header->window == window + 1 && !peer.stashed) {
    // A fast peer finished this window already; keep its next frame.
    peer.stash.swap(bytes);
    peer.stashed = true;
    return false;
  }
  if (header->window != window || peer.received) {
    links.Drop(StrCat("unexpected frame for window ", header->window, " from rank ", header->source_rank,
                      " while in window ", window));
    return false;
  }
  if (!Deliver(bytes, sent_floor, global_next)) return false;
  peer.received = true;
  links.CountReceived(header->source_rank, bytes.size());
  return true;
}

bool ConservativeSync::Deliver(std::span<const std::byte> bytes, double sent_floor, double* global_next) {
  auto view = frame::FrameCodec::Decode(bytes, *parts_.limits);
  if (!view.ok()) {
    parts_.links->Drop(ToStd(view.status().message()));
    return false;
  }
  // Check the frame against the protocol before any event is taken, so a
  // bad frame is dropped whole.
  sim::Kernel& kernel = *parts_.kernel;
  bool valid = true;
  view->ForEachEvent([&](const sim::Event& event) {
    valid = valid && IsForThisNode(parts_, event) && event.time >= sent_floor;
  });
  if (!valid) {
    parts_.links->Drop(
        StrCat("frame from rank ", view->header().source_rank,
               " has an event for another node, for a mailbox with no subscriber here, or earlier than ",
               sent_floor));
    return false;
  }
  view->ForEachEvent([&](const sim::Event& event) { kernel.Deliver(event); });
  *global_next = std::min(*global_next, view->header().next_time);
  checkpoint_agreed_ = checkpoint_agreed_ || (view->header().flags & frame::kFlagCheckpoint) != 0;
  return true;
}

}  // namespace meshsim::node
