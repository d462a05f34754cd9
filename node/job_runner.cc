#include "node/job_runner.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/transport/shm/probe.h"
#include "common/transport/shm/shm_link.h"
#include "common/transport/zmq/zmq_link.h"
#include "meshsim/format.h"
#include "node/checkpoint_client.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr auto kPollSlice = std::chrono::milliseconds(50);

// What the rings of `colocated` peers and this node take in /dev/shm: every
// ordered pair of them has a ring (the whole host's share of the job, which
// every node of the host computes alike). A page more per ring for the header.
uint64_t ShmBytesNeeded(size_t colocated) {
  const uint64_t nodes = colocated + 1;
  return nodes * (nodes - 1) * (uint64_t{transport::shm::kDefaultRingBytes} + 4096);
}

// Free bytes in the shared-memory filesystem, or nullopt if it cannot tell.
std::optional<uint64_t> ShmBytesFree() {
  struct statvfs fs {};
  if (statvfs("/dev/shm", &fs) != 0) return std::nullopt;
  return uint64_t{fs.f_bavail} * fs.f_frsize;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobRunner>> JobRunner::Create(JobSetup setup, JobRunnerOptions options,
                                                             zmq::context_t& context,
                                                             transport::FrameInbox* inbox) {
  const v1::Scenario& scenario = setup.scenario;
  const auto* info = sim::ModelRegistry::Global().Find(scenario.model());
  if (info == nullptr) return absl::InvalidArgumentError(StrCat("unknown model '", scenario.model(), "'"));
  MESHSIM_ASSIGN_OR_RETURN(auto model, sim::CreateModel(*info, scenario::ModelContextOf(scenario)));
  const auto ranks = static_cast<uint32_t>(setup.peers.size());
  if (setup.rank >= ranks) {
    return absl::InvalidArgumentError(StrCat("rank ", setup.rank, " outside ", ranks, " peers"));
  }
  MESHSIM_ASSIGN_OR_RETURN(
      auto partition,
      sim::PartitionMap::Create(scenario::PartitionKindOf(scenario.partition()), model->lp_count(), ranks));
  const uint64_t lp_count = model->lp_count();
  const size_t max_payload = model->max_payload_bytes();
  auto runner =
      std::unique_ptr<JobRunner>(new JobRunner(std::move(setup), options, inbox, std::move(partition)));
  runner->limits_ = {lp_count, max_payload};

  const v1::Scenario& kept = runner->setup_.scenario;  // `setup` was moved into the runner
  sim::KernelOptions kernel_options;
  kernel_options.seed = kept.seed();
  kernel_options.end_time = kept.end_time();
  kernel_options.lookahead = kept.lookahead();
  kernel_options.rank = runner->setup_.rank;
  MESHSIM_ASSIGN_OR_RETURN(runner->kernel_, sim::Kernel::Create(kernel_options, std::move(model),
                                                                &runner->partition_, runner.get()));

  runner->context_ = &context;
  runner->peers_.resize(ranks);
  for (uint32_t rank = 0; rank < ranks; ++rank) {
    Peer& peer = runner->peers_[rank];
    const v1::PeerInfo& info_of_peer = runner->setup_.peers[rank];
    peer.stats.set_from_node(runner->setup_.node_id);
    peer.stats.set_to_node(info_of_peer.node_id());
    peer.writer.Begin(runner->setup_.run_id(), 0, runner->setup_.rank);
    if (rank == runner->setup_.rank || info_of_peer.probe_name().empty()) continue;
    auto probe =
        transport::shm::ColocationProbe::OpenPeer(info_of_peer.probe_name(), info_of_peer.probe_token());
    if (probe.ok()) {
      peer.probe.emplace(std::move(*probe));
      runner->colocated_ranks_.push_back(rank);
    } else {
      spdlog::debug("job {}: rank {} is not co-located: {}", runner->setup_.job_id, rank,
                    probe.status().message());
    }
  }
  // A /dev/shm too small for the rings (Docker's default is 64 MiB) would
  // fail the job when they are created: say so and use tcp to the co-located
  // peers instead. Every node of the host sees the same shortage, so both
  // ends of each pair fall back together.
  if (!runner->colocated_ranks_.empty()) {
    const uint64_t needed = ShmBytesNeeded(runner->colocated_ranks_.size());
    if (const auto free = ShmBytesFree(); free && *free < needed) {
      spdlog::warn(
          "job {}: /dev/shm has {} MiB free, the rings of this host's {} nodes need {} MiB: using tcp "
          "between them (give /dev/shm more room; docs/scale-out.md)",
          runner->setup_.job_id, *free >> 20, runner->colocated_ranks_.size() + 1, needed >> 20);
      runner->colocated_ranks_.clear();
      for (Peer& peer : runner->peers_) peer.probe.reset();
    }
  }
  // Init (or restore) runs now, before the job starts, because the
  // coordinator needs every node's mailbox subscriptions to build the
  // job's mailbox table. What init sends waits in the window-0 frames.
  if (runner->setup_.restore_parts.empty()) {
    MESHSIM_RETURN_IF_ERROR(runner->kernel_->Init());
  } else {
    MESHSIM_RETURN_IF_ERROR(runner->Restore());
  }
  runner->subscribed_mailboxes_ = runner->kernel_->subscribed_mailboxes();
  runner->last_checkpoint_ = SteadyClock::now();
  return runner;
}

absl::Status JobRunner::Restore() {
  std::vector<checkpoint::CheckpointPart> parts;
  for (const auto& bytes : setup_.restore_parts) {
    auto part = checkpoint::CheckpointPart::Parse(bytes, limits_.max_payload_bytes);
    if (!part.ok())
      return Annotate(part.status(), StrCat("job ", setup_.job_id, ": checkpoint part ", parts.size()));
    parts.push_back(*part);
  }
  const auto& first = parts.front().header();
  for (const auto& part : parts) {
    if (part.header().window != first.window || part.header().job_id != setup_.job_id ||
        part.header().ranks != parts.size()) {
      return absl::DataLossError(StrCat("job ", setup_.job_id, ": checkpoint parts disagree (rank ",
                                        part.header().rank, " is of window ", part.header().window, ")"));
    }
  }
  MESHSIM_RETURN_IF_ERROR(Annotate(kernel_->Restore(parts), StrCat("job ", setup_.job_id)));
  restored_ = true;
  start_window_ = first.window;
  start_next_ = first.next_time;
  if (options_.metrics != nullptr) options_.metrics->restores.Increment();
  spdlog::info(
      "job {}: attempt {} restored window {} (t={}) from {} parts: {} LPs and {} pending events here",
      setup_.job_id, setup_.attempt, first.window, first.next_time, parts.size(), kernel_->local_lp_count(),
      kernel_->pending_events());
  setup_.restore_parts.clear();  // the kernel has copied what it needs
  setup_.restore_parts.shrink_to_fit();
  return absl::OkStatus();
}

JobRunner::JobRunner(JobSetup setup, JobRunnerOptions options, transport::FrameInbox* inbox,
                     sim::PartitionMap partition)
    : setup_(std::move(setup)),
      options_(options),
      inbox_(inbox),
      partition_(std::move(partition)),
      min_sent_time_(kInfinity) {}

JobRunner::~JobRunner() {
  // Our outbound rings unlink themselves with their links; inbound ones are
  // unlinked here too, so nothing of the job stays behind whichever side
  // goes first, or if the peer died before it could.
  for (Peer& peer : peers_) {
    if (peer.ring) peer.ring->segment().Unlink();
    if (!peer.inbound_ring_name.empty()) transport::shm::ShmSegment::UnlinkName(peer.inbound_ring_name);
  }
}

absl::Status JobRunner::ConnectLinks(const std::vector<v1::Transport>& transports) {
  if (transports.size() != peers_.size()) {
    return absl::InvalidArgumentError(
        StrCat("got transports for ", transports.size(), " ranks, the job has ", peers_.size()));
  }
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank == setup_.rank) continue;
    Peer& peer = peers_[rank];
    const v1::PeerInfo& info = setup_.peers[rank];
    if (transports[rank] == v1::TRANSPORT_SHM) {
      if (!peer.probe) {
        return absl::FailedPreconditionError(
            StrCat("shm link to rank ", rank, " but its probe is not visible"));
      }
      const std::string name =
          transport::shm::RingName(setup_.probe_name, setup_.job_id, setup_.attempt, setup_.rank, rank);
      MESHSIM_ASSIGN_OR_RETURN(
          peer.link, transport::shm::ShmPeerLink::Create(name, transport::shm::kDefaultRingBytes,
                                                         setup_.run_id(), std::move(*peer.probe), &abort_));
      peer.probe.reset();
      peer.inbound_ring_name =
          transport::shm::RingName(info.probe_name(), setup_.job_id, setup_.attempt, rank, setup_.rank);
      peer.stats.set_transport(v1::TRANSPORT_SHM);
      BindLinkMetrics(peer, info.node_id(), "shm");
      has_shm_links_ = true;
      spdlog::info("job {}: link rank {} -> rank {} (node {}) uses shm (ring {})", setup_.job_id, setup_.rank,
                   rank, info.node_id(), name);
    } else {
      MESHSIM_ASSIGN_OR_RETURN(
          peer.link, transport::ZmqPeerLink::Connect(
                         *context_, info.data_endpoint(), options_.stall_timeout, options_.link_linger,
                         options_.keyring ? &options_.keyring->own() : nullptr, info.public_key()));
      peer.stats.set_transport(v1::TRANSPORT_TCP);
      BindLinkMetrics(peer, info.node_id(), "tcp");
      has_tcp_links_ = true;
      spdlog::info("job {}: link rank {} -> rank {} (node {}) uses tcp to {}", setup_.job_id, setup_.rank,
                   rank, info.node_id(), info.data_endpoint());
    }
  }
  return absl::OkStatus();
}

absl::Status JobRunner::InstallMailboxes(
    const google::protobuf::RepeatedPtrField<v1::MailboxRoute>& mailboxes) {
  std::vector<sim::MailboxRoute> table;
  table.reserve(static_cast<size_t>(mailboxes.size()));
  for (const v1::MailboxRoute& route : mailboxes) {
    table.push_back({route.name(), {route.ranks().begin(), route.ranks().end()}});
  }
  MESHSIM_RETURN_IF_ERROR(kernel_->InstallMailboxes(std::move(table)));
  limits_.mailbox_count = kernel_->mailbox_count();
  if (!mailboxes.empty()) {
    spdlog::info("job {}: {} mailboxes, {} with subscribers here", setup_.job_id, mailboxes.size(),
                 subscribed_mailboxes_.size());
  }
  return absl::OkStatus();
}

absl::Status JobRunner::OpenInboundRings() {
  const Deadline deadline = Deadline::After(options_.stall_timeout);
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    Peer& peer = peers_[rank];
    if (peer.inbound_ring_name.empty()) continue;
    for (;;) {
      auto ring = transport::shm::RingReader::Open(peer.inbound_ring_name, setup_.run_id());
      if (ring.ok()) {
        peer.ring.emplace(std::move(*ring));
        break;
      }
      // Not there yet, or still being set up by its creator: wait for it.
      if (!absl::IsNotFound(ring.status()) && !absl::IsUnavailable(ring.status())) return ring.status();
      if (abort_.load(std::memory_order_relaxed)) return absl::AbortedError("job aborted");
      if (deadline.Expired()) {
        return absl::DeadlineExceededError(
            StrCat("rank ", rank, " did not create its shm ring ", peer.inbound_ring_name));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> JobRunner::ReceiveAny(std::vector<std::byte>* out, Duration timeout) {
  incoming_origin_ = {};
  if (!has_shm_links_) {
    MESHSIM_ASSIGN_OR_RETURN(bool got, inbox_->Receive(out, timeout));
    if (got) incoming_origin_.sender = inbox_->last_sender();
    return got;
  }
  std::optional<Deadline> deadline;  // read the clock only once there is nothing to take
  auto any_ring_has_data = [this] {
    for (const Peer& peer : peers_) {
      if (peer.ring && peer.ring->HasData()) return true;
    }
    return false;
  };
  // How long this frame kept the node waiting, for the frame-wait metric:
  // the furthest phase any doorbell wait below reached.
  auto waited = transport::shm::WaitPhase::kNone;
  for (;;) {
    for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
      if (!peers_[rank].ring) continue;
      MESHSIM_ASSIGN_OR_RETURN(bool got, peers_[rank].ring->TryRead(out));
      if (got) {
        incoming_origin_.ring_rank = static_cast<int>(rank);
        ++frame_waits_[static_cast<size_t>(waited)];
        return true;
      }
    }
    if (has_tcp_links_) {
      MESHSIM_ASSIGN_OR_RETURN(bool got, inbox_->Receive(out, Duration::zero()));
      if (got) {
        incoming_origin_.sender = inbox_->last_sender();
        return true;
      }
    }
    if (!deadline) deadline = Deadline::After(timeout);
    if (deadline->Expired()) return false;
    // With TCP peers too, sleep only briefly on the doorbell: their frames
    // do not ring it.
    const Duration nap = has_tcp_links_ ? Duration(std::chrono::microseconds(200)) : deadline->Remaining();
    waited = std::max(waited, setup_.doorbell->Wait(any_ring_has_data, std::min(nap, deadline->Remaining())));
  }
}

JobProgress JobRunner::progress() const {
  return {virtual_time_.load(std::memory_order_relaxed), committed_.load(std::memory_order_relaxed),
          windows_done_.load(std::memory_order_relaxed)};
}

void JobRunner::PublishProgress(double virtual_time) {
  virtual_time_.store(virtual_time, std::memory_order_relaxed);
  committed_.store(kernel_->committed_events(), std::memory_order_relaxed);
}

void JobRunner::BindLinkMetrics(Peer& peer, uint32_t peer_node, std::string_view transport) {
  NodeMetrics* metrics = options_.metrics;
  if (metrics == nullptr) return;
  const prometheus::Labels labels = {{"peer", std::to_string(peer_node)},
                                     {"transport", std::string(transport)}};
  peer.messages_sent = &metrics->messages_sent.Add(labels);
  peer.bytes_sent = &metrics->bytes_sent.Add(labels);
  peer.events_sent = &metrics->events_sent.Add(labels);
  peer.messages_received = &metrics->messages_received.Add(labels);
  peer.bytes_received = &metrics->bytes_received.Add(labels);
  if (transport == "shm")
    peer.ring_occupancy = &metrics->ring_occupancy.Add({{"peer", std::to_string(peer_node)}});
}

void JobRunner::PublishWindow(double virtual_time, double window_seconds) {
  NodeMetrics* metrics = options_.metrics;
  if (metrics == nullptr) return;
  const uint64_t events = kernel_->committed_events();
  metrics->events_processed.Increment(static_cast<double>(events - published_events_));
  published_events_ = events;
  metrics->windows.Increment();
  metrics->window_duration.Observe(window_seconds);
  metrics->event_queue_depth.Set(static_cast<double>(kernel_->pending_events()));
  metrics->virtual_time.Set(virtual_time);
  const sim::MailboxCounters& mailboxes = kernel_->mailbox_counters();
  metrics->mailbox_posts.Increment(static_cast<double>(mailboxes.posts - published_mailboxes_.posts));
  metrics->mailbox_deliveries.Increment(
      static_cast<double>(mailboxes.deliveries - published_mailboxes_.deliveries));
  metrics->mailbox_remote_events.Increment(
      static_cast<double>(mailboxes.remote_events - published_mailboxes_.remote_events));
  published_mailboxes_ = mailboxes;
  for (size_t how = 0; how < frame_waits_.size(); ++how) {
    if (frame_waits_[how] != published_frame_waits_[how]) {
      metrics->frame_waits[how]->Increment(
          static_cast<double>(frame_waits_[how] - published_frame_waits_[how]));
      published_frame_waits_[how] = frame_waits_[how];
    }
  }
  for (Peer& peer : peers_) {
    if (peer.ring_occupancy != nullptr && peer.link) {
      peer.ring_occupancy->Set(static_cast<double>(peer.link->queued_bytes()));
    }
  }
}

void JobRunner::Route(uint32_t rank, const sim::Event& event) {
  Peer& peer = peers_[rank];
  peer.writer.Append(event);
  min_sent_time_ = std::min(min_sent_time_, event.time);
}

void JobRunner::Drop(std::string_view why) {
  frames_dropped_.fetch_add(1, std::memory_order_relaxed);
  if (options_.metrics != nullptr) options_.metrics->frames_dropped.Increment();
  spdlog::warn("job {}: dropped data frame: {}", setup_.job_id, why);
}

absl::StatusOr<v1::NodeShare> JobRunner::Run() {
  const auto start = SteadyClock::now();
  const double end_time = setup_.scenario.end_time();
  const double lookahead = setup_.scenario.lookahead();
  MESHSIM_RETURN_IF_ERROR(Annotate(OpenInboundRings(), StrCat("job ", setup_.job_id)));
  uint64_t windows = start_window_;
  double next = start_next_;
  if (restored_) {
    // Frames continue from the checkpoint's window; nothing was sent since.
    for (Peer& peer : peers_) peer.writer.Begin(setup_.run_id(), windows + 1, setup_.rank);
  } else {
    // Init runs at time 0, so everything it sent is at least one lookahead on.
    MESHSIM_ASSIGN_OR_RETURN(next, Exchange(0, lookahead));
    PublishWindow(0, SecondsSince(start));
  }
  // The loop's time (loop_seconds, and so the job's event rate) starts here,
  // when every node has passed the first barrier: before it, the first
  // node started waits for the last one (the coordinator starts them one
  // after another), which is start-up, not simulation.
  const auto loop_start = SteadyClock::now();
  while (next < end_time) {
    const auto window_start = SteadyClock::now();
    const double window_end = next + lookahead;
    MESHSIM_RETURN_IF_ERROR(kernel_->RunWindow(window_end));
    ++windows;
    PublishProgress(std::min(window_end, end_time));
    MESHSIM_ASSIGN_OR_RETURN(next, Exchange(windows, window_end, WantCheckpoint()));
    windows_done_.store(windows, std::memory_order_relaxed);
    // After the exchange every event sent so far sits in some node's
    // queue: a consistent cut, so this node's part is complete.
    if (checkpoint_agreed_ && next < end_time) SaveCheckpoint(windows, next);
    PublishWindow(std::min(window_end, end_time), SecondsSince(window_start));
  }
  PublishProgress(end_time);

  v1::NodeShare share;
  share.set_node_id(setup_.node_id);
  share.set_rank(setup_.rank);
  share.set_lps(kernel_->local_lp_count());
  share.set_committed_events(kernel_->committed_events());
  share.set_pending_events(kernel_->pending_events());
  share.set_windows(windows);
  share.set_loop_seconds(SecondsSince(loop_start));
  share.set_frames_dropped(frames_dropped());
  const sim::KernelOutcome outcome = kernel_->Fold();
  share.set_digest(outcome.digest);
  const auto fields = kernel_->model().summary_fields();
  for (size_t i = 0; i < fields.size(); ++i) (*share.mutable_summary())[fields[i]] = outcome.summary[i];
  const sim::MailboxCounters& mailbox = kernel_->mailbox_counters();
  share.mutable_mailboxes()->set_posts(mailbox.posts);
  share.mutable_mailboxes()->set_deliveries(mailbox.deliveries);
  share.mutable_mailboxes()->set_remote_events(mailbox.remote_events);
  if (!outcome.series.empty()) share.set_series_interval(outcome.series_spec.interval);
  for (size_t i = 0; i < outcome.series.size(); ++i) {
    v1::TimeSeries* series = share.add_series();
    series->set_name(outcome.series_spec.names[i]);
    series->mutable_values()->Add(outcome.series[i].begin(), outcome.series[i].end());
  }
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank != setup_.rank) *share.add_links() = peers_[rank].stats;
  }
  return share;
}

bool JobRunner::WantCheckpoint() const {
  const double every = setup_.scenario.checkpoint_every_seconds();
  if (options_.checkpoints == nullptr || !(every > 0)) return false;
  // A part still on its way: the next can wait, rather than pile up.
  return SecondsSince(last_checkpoint_) >= every && !options_.checkpoints->busy();
}

void JobRunner::SaveCheckpoint(uint64_t window, double next_time) {
  const auto begin = SteadyClock::now();
  last_checkpoint_ = begin;
  const sim::MailboxCounters& mailboxes = kernel_->mailbox_counters();
  checkpoint::CheckpointPartWriter writer(
      {.job_id = setup_.job_id,
       .attempt = setup_.attempt,
       .rank = setup_.rank,
       .ranks = static_cast<uint32_t>(peers_.size()),
       .state_bytes = static_cast<uint32_t>(kernel_->model().state_bytes()),
       .window = window,
       .next_time = next_time,
       .lp_count = limits_.lp_count,
       .mailbox_posts = mailboxes.posts,
       .mailbox_deliveries = mailboxes.deliveries,
       .mailbox_remote_events = mailboxes.remote_events});
  kernel_->SaveCheckpoint(writer);
  CheckpointUpload upload{setup_.node_id,
                          setup_.job_id,
                          setup_.attempt,
                          window,
                          setup_.rank,
                          next_time,
                          std::move(writer).Finish()};
  const double seconds = SecondsSince(begin);
  if (options_.metrics != nullptr) options_.metrics->checkpoint_save_seconds.Observe(seconds);
  spdlog::info("job {}: checkpoint at window {} (t={}): {} KiB saved in {:.1f} ms", setup_.job_id, window,
               next_time, upload.bytes.size() / 1024, seconds * 1e3);
  options_.checkpoints->Submit(std::move(upload));
}

absl::StatusOr<double> JobRunner::Exchange(uint64_t window, double sent_floor, bool want_checkpoint) {
  // This node's bound: nothing it processes next, and nothing it just sent,
  // is earlier. The minimum of all nodes' bounds is the next window start.
  double global_next = std::min(kernel_->next_event_time(), min_sent_time_);
  checkpoint_agreed_ = want_checkpoint;
  const uint32_t flags = want_checkpoint ? frame::kFlagCheckpoint : 0;
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    Peer& peer = peers_[rank];
    peer.received = rank == setup_.rank;
    if (!peer.link) continue;
    const uint32_t events = peer.writer.event_count();
    const auto frame = peer.writer.Finish(global_next, flags);
    // The message is built only on failure: this runs every window.
    if (absl::Status sent = peer.link->Send(frame); !sent.ok()) [[unlikely]] {
      return Annotate(sent, StrCat("job ", setup_.job_id, " window ", window, " to rank ", rank));
    }
    peer.stats.set_messages(peer.stats.messages() + 1);
    peer.stats.set_bytes(peer.stats.bytes() + frame.size());
    peer.stats.set_events(peer.stats.events() + events);
    if (peer.messages_sent != nullptr) {
      peer.messages_sent->Increment();
      peer.bytes_sent->Increment(static_cast<double>(frame.size()));
      peer.events_sent->Increment(events);
    }
  }

  size_t missing = peers_.size() - 1;
  for (Peer& peer : peers_) {
    if (peer.stashed) {
      peer.stashed = false;
      if (Accept(peer.stash, {.ring_rank = -1, .sender = {}, .verified = true}, window, sent_floor,
                 &global_next))
        --missing;
    }
  }
  for (auto& [early, sender] : early_frames_) {
    if (Accept(early, {.ring_rank = -1, .sender = sender, .verified = false}, window, sent_floor,
               &global_next))
      --missing;
  }
  early_frames_.clear();
  // The stall clock starts at the first wait that comes back empty: a frame
  // usually arrives within microseconds, and reading the clock each time
  // would cost about as much as taking the frame.
  constexpr TimePoint kNotWaiting = TimePoint::max();
  TimePoint quiet_since = kNotWaiting;
  while (missing > 0) {
    if (abort_.load(std::memory_order_relaxed)) return absl::AbortedError("job aborted");
    MESHSIM_ASSIGN_OR_RETURN(bool got, ReceiveAny(&incoming_, kPollSlice));
    if (got && Accept(incoming_, incoming_origin_, window, sent_floor, &global_next)) {
      --missing;
      quiet_since = kNotWaiting;
    } else if (quiet_since == kNotWaiting) {
      quiet_since = SteadyClock::now();
    } else if (SteadyClock::now() - quiet_since > options_.stall_timeout) {
      std::vector<uint32_t> silent;
      for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
        if (!peers_[rank].received) silent.push_back(rank);
      }
      return absl::DeadlineExceededError(
          StrCat("job ", setup_.job_id, " window ", window, ": no frame from rank(s) ", StrJoin(silent, ","),
                 " for ", std::chrono::duration<double>(options_.stall_timeout).count(), " s"));
    }
  }
  for (Peer& peer : peers_) peer.writer.Begin(setup_.run_id(), window + 1, setup_.rank);
  min_sent_time_ = kInfinity;
  return global_next;
}

bool JobRunner::Authentic(uint32_t source_rank, const FrameOrigin& origin) {
  const std::string& key = setup_.peers[source_rank].public_key();
  if (key.empty() || origin.verified) return true;  // no keys in this cluster, or checked before
  if (origin.ring_rank >= 0) {
    // A ring is written only by the peer that created it (0600, its uid).
    if (origin.ring_rank == static_cast<int>(source_rank)) return true;
    Drop(StrCat("frame claims rank ", source_rank, " but came through rank ", origin.ring_rank, "'s ring"));
    return false;
  }
  if (origin.sender == key) return true;
  Drop(StrCat("frame claims rank ", source_rank, " but was sent with key ",
              origin.sender.empty() ? "(none)" : StrCat(origin.sender.substr(0, 8), "..."),
              ", not that rank's ", key.substr(0, 8), "..."));
  return false;
}

bool JobRunner::Accept(std::vector<std::byte>& bytes, const FrameOrigin& origin, uint64_t window,
                       double sent_floor, double* global_next) {
  auto header = frame::FrameCodec::PeekHeader(bytes);
  if (!header.ok()) {
    Drop(ToStd(header.status().message()));
    return false;
  }
  if (header->run_id != setup_.run_id()) {
    Drop(StrCat("frame of job ", frame::JobOfRun(header->run_id), " attempt ",
                frame::AttemptOfRun(header->run_id), " (expected job ", setup_.job_id, " attempt ",
                setup_.attempt, ")"));
    return false;
  }
  if (header->source_rank >= peers_.size() || header->source_rank == setup_.rank) {
    Drop(StrCat("frame from rank ", header->source_rank, ", which is not a peer"));
    return false;
  }
  if (!Authentic(header->source_rank, origin)) return false;
  Peer& peer = peers_[header->source_rank];
  if (header->window == window + 1 && !peer.stashed) {
    // A fast peer finished this window already; keep its next frame.
    peer.stash.swap(bytes);
    peer.stashed = true;
    return false;
  }
  if (header->window != window || peer.received) {
    Drop(StrCat("unexpected frame for window ", header->window, " from rank ", header->source_rank,
                " while in window ", window));
    return false;
  }
  if (!Deliver(bytes, sent_floor, global_next)) return false;
  peer.received = true;
  if (peer.messages_received != nullptr) {
    peer.messages_received->Increment();
    peer.bytes_received->Increment(static_cast<double>(bytes.size()));
  }
  return true;
}

bool JobRunner::Deliver(std::span<const std::byte> bytes, double sent_floor, double* global_next) {
  auto view = frame::FrameCodec::Decode(bytes, limits_);
  if (!view.ok()) {
    Drop(ToStd(view.status().message()));
    return false;
  }
  // Check the frame against the protocol before any event is taken, so a
  // bad frame is dropped whole.
  bool valid = true;
  view->ForEachEvent([&](const sim::Event& event) {
    const bool ours = sim::IsMailboxAddress(event.dst_lp)
                          ? kernel_->has_local_subscribers(sim::MailboxOfAddress(event.dst_lp))
                          : partition_.owner(event.dst_lp) == setup_.rank;
    valid = valid && ours && event.time >= sent_floor;
  });
  if (!valid) {
    Drop(StrCat("frame from rank ", view->header().source_rank,
                " has an event for another node, for a mailbox with no subscriber here, or earlier than ",
                sent_floor));
    return false;
  }
  view->ForEachEvent([&](const sim::Event& event) { kernel_->Deliver(event); });
  *global_next = std::min(*global_next, view->header().next_time);
  checkpoint_agreed_ = checkpoint_agreed_ || (view->header().flags & frame::kFlagCheckpoint) != 0;
  return true;
}

}  // namespace meshsim::node
