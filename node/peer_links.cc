#include "node/peer_links.h"

#include <sys/statvfs.h>

#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/transport/shm/probe.h"
#include "common/transport/zmq/zmq_link.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

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

// With tcp peers too, the shm inbox sleeps only briefly: their frames do
// not ring its doorbell.
constexpr Duration kMixedNap = std::chrono::microseconds(200);

}  // namespace

absl::StatusOr<std::unique_ptr<PeerLinks>> PeerLinks::Create(PeerSet peers, PeerLinksOptions options,
                                                             zmq::context_t& context,
                                                             transport::FrameInbox* tcp_inbox,
                                                             const std::atomic<bool>* abort) {
  if (peers.rank >= peers.peers.size()) {
    return absl::InvalidArgumentError(StrCat("rank ", peers.rank, " outside ", peers.peers.size(), " peers"));
  }
  auto links = std::unique_ptr<PeerLinks>(
      new PeerLinks(std::move(peers), std::move(options), context, tcp_inbox, abort));
  links->OpenProbes();
  links->CheckShmSpace();
  return links;
}

PeerLinks::PeerLinks(PeerSet peers, PeerLinksOptions options, zmq::context_t& context,
                     transport::FrameInbox* tcp_inbox, const std::atomic<bool>* abort)
    : set_(std::move(peers)),
      options_(std::move(options)),
      context_(&context),
      tcp_inbox_(tcp_inbox),
      abort_(abort),
      peers_(set_.peers.size()) {
  if (set_.doorbell != nullptr) shm_inbox_.emplace(*set_.doorbell);
  send_wait_hook_ = [this] { HoldIncomingWhileSendWaits(); };
}

PeerLinks::~PeerLinks() {
  // Outbound rings unlink themselves with their links; inbound ones are
  // unlinked here by name, opened or not.
  for (Peer& peer : peers_) {
    if (!peer.inbound_ring_name.empty()) transport::shm::ShmSegment::UnlinkName(peer.inbound_ring_name);
  }
}

void PeerLinks::OpenProbes() {
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    Peer& peer = peers_[rank];
    const v1::PeerInfo& info = set_.peers[rank];
    peer.stats.set_from_node(set_.node_id);
    peer.stats.set_to_node(info.node_id());
    if (rank == set_.rank || info.probe_name().empty() || set_.probe_name.empty()) continue;
    auto probe = transport::shm::ColocationProbe::OpenPeer(info.probe_name(), info.probe_token());
    if (probe.ok()) {
      peer.probe.emplace(std::move(*probe));
      colocated_ranks_.push_back(rank);
    } else {
      spdlog::debug("job {}: rank {} is not co-located: {}", set_.job_id, rank, probe.status().message());
    }
  }
}

void PeerLinks::CheckShmSpace() {
  // A /dev/shm too small for the rings (Docker's default is 64 MiB) would
  // fail the job when they are created: say so and use tcp to the co-located
  // peers instead. Every node of the host sees the same shortage, so both
  // ends of each pair fall back together.
  if (colocated_ranks_.empty()) return;
  const uint64_t needed = ShmBytesNeeded(colocated_ranks_.size());
  if (const auto free = ShmBytesFree(); free && *free < needed) {
    spdlog::warn(
        "job {}: /dev/shm has {} MiB free, the rings of this host's {} nodes need {} MiB: using tcp "
        "between them (give /dev/shm more room; docs/scale-out.md)",
        set_.job_id, *free >> 20, colocated_ranks_.size() + 1, needed >> 20);
    colocated_ranks_.clear();
    for (Peer& peer : peers_) peer.probe.reset();
  }
}

absl::Status PeerLinks::Connect(const std::vector<v1::Transport>& transports) {
  if (transports.size() != peers_.size()) {
    return absl::InvalidArgumentError(
        StrCat("got transports for ", transports.size(), " ranks, the job has ", peers_.size()));
  }
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank == set_.rank) continue;
    MESHSIM_RETURN_IF_ERROR(transports[rank] == v1::TRANSPORT_SHM ? ConnectShm(rank) : ConnectTcp(rank));
  }
  return absl::OkStatus();
}

absl::Status PeerLinks::ConnectShm(uint32_t rank) {
  Peer& peer = peers_[rank];
  const v1::PeerInfo& info = set_.peers[rank];
  if (!peer.probe || !shm_inbox_) {
    return absl::FailedPreconditionError(StrCat("shm link to rank ", rank, " but its probe is not visible"));
  }
  const std::string name =
      transport::shm::RingName(set_.probe_name, set_.job_id, set_.attempt, set_.rank, rank);
  MESHSIM_ASSIGN_OR_RETURN(
      peer.link, transport::shm::ShmPeerLink::Create(name, transport::shm::kDefaultRingBytes, set_.run_id,
                                                     std::move(*peer.probe), abort_, &send_wait_hook_));
  peer.probe.reset();
  peer.inbound_ring_name =
      transport::shm::RingName(info.probe_name(), set_.job_id, set_.attempt, rank, set_.rank);
  peer.stats.set_transport(v1::TRANSPORT_SHM);
  BindLinkMetrics(peer, info.node_id(), "shm");
  has_shm_links_ = true;
  spdlog::info("job {}: link rank {} -> rank {} (node {}) uses shm (ring {})", set_.job_id, set_.rank, rank,
               info.node_id(), name);
  return absl::OkStatus();
}

absl::Status PeerLinks::ConnectTcp(uint32_t rank) {
  Peer& peer = peers_[rank];
  const v1::PeerInfo& info = set_.peers[rank];
  MESHSIM_ASSIGN_OR_RETURN(peer.link,
                           transport::ZmqPeerLink::Connect(
                               *context_, info.data_endpoint(), options_.stall_timeout, options_.link_linger,
                               options_.keyring ? &options_.keyring->own() : nullptr, info.public_key()));
  peer.stats.set_transport(v1::TRANSPORT_TCP);
  BindLinkMetrics(peer, info.node_id(), "tcp");
  has_tcp_links_ = true;
  spdlog::info("job {}: link rank {} -> rank {} (node {}) uses tcp to {}", set_.job_id, set_.rank, rank,
               info.node_id(), info.data_endpoint());
  return absl::OkStatus();
}

absl::Status PeerLinks::OpenInbound() {
  const Deadline deadline = Deadline::After(options_.stall_timeout);
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    const std::string& name = peers_[rank].inbound_ring_name;
    if (name.empty()) continue;
    MESHSIM_RETURN_IF_ERROR(Annotate(shm_inbox_->OpenRing(name, set_.run_id, rank, deadline, *abort_),
                                     StrCat("job ", set_.job_id, " rank ", rank)));
  }
  return absl::OkStatus();
}

absl::Status PeerLinks::Send(uint32_t rank, std::span<const std::byte> frame, uint32_t events) {
  Peer& peer = peers_[rank];
  MESHSIM_RETURN_IF_ERROR(peer.link->Send(frame));
  peer.stats.set_messages(peer.stats.messages() + 1);
  peer.stats.set_bytes(peer.stats.bytes() + frame.size());
  peer.stats.set_events(peer.stats.events() + events);
  if (peer.messages_sent != nullptr) {
    peer.messages_sent->Increment();
    peer.bytes_sent->Increment(static_cast<double>(frame.size()));
    peer.events_sent->Increment(events);
  }
  return absl::OkStatus();
}

void PeerLinks::AdoptEarlyFrame(std::vector<std::byte> frame, std::string sender) {
  early_frames_.push_back({std::move(frame), std::move(sender)});
}

void PeerLinks::HoldIncomingWhileSendWaits() {
  if (!shm_inbox_ || !held_error_.ok()) return;
  for (;;) {
    EarlyFrame held;
    absl::StatusOr<bool> got = shm_inbox_->Receive(&held.bytes, Duration::zero());
    if (!got.ok()) held_error_ = got.status();
    if (!got.ok() || !*got) return;
    held.ring_rank = shm_inbox_->last_source();
    early_frames_.push_back(std::move(held));
  }
}

absl::StatusOr<bool> PeerLinks::Receive(std::vector<std::byte>* out, FrameOrigin* origin, Duration timeout) {
  *origin = {};
  if (!early_frames_.empty()) {
    EarlyFrame& early = early_frames_.front();
    out->swap(early.bytes);
    early_sender_.swap(early.sender);
    origin->ring_rank = early.ring_rank;
    early_frames_.pop_front();
    origin->sender = early_sender_;
    return true;
  }
  if (!held_error_.ok()) return std::exchange(held_error_, absl::OkStatus());
  auto from_tcp = [&](Duration wait) -> absl::StatusOr<bool> {
    MESHSIM_ASSIGN_OR_RETURN(bool got, tcp_inbox_->Receive(out, wait));
    if (got) origin->sender = tcp_inbox_->last_sender();
    return got;
  };
  auto from_shm = [&](Duration wait) -> absl::StatusOr<bool> {
    MESHSIM_ASSIGN_OR_RETURN(bool got, shm_inbox_->Receive(out, wait));
    if (got) origin->ring_rank = shm_inbox_->last_source();
    return got;
  };
  if (!has_shm_links_) return from_tcp(timeout);
  if (!has_tcp_links_) return from_shm(timeout);
  std::optional<Deadline> deadline;  // read the clock only once there is nothing to take
  for (Duration nap = Duration::zero();; nap = std::min(kMixedNap, deadline->Remaining())) {
    MESHSIM_ASSIGN_OR_RETURN(bool got, from_shm(nap));
    if (got) return true;
    MESHSIM_ASSIGN_OR_RETURN(got, from_tcp(Duration::zero()));
    if (got) return true;
    if (!deadline) deadline = Deadline::After(timeout);
    if (deadline->Expired()) return false;
  }
}

bool PeerLinks::Authentic(uint32_t source_rank, const FrameOrigin& origin) {
  const std::string& key = set_.peers[source_rank].public_key();
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

void PeerLinks::CountReceived(uint32_t rank, size_t bytes) {
  Peer& peer = peers_[rank];
  if (peer.messages_received == nullptr) return;
  peer.messages_received->Increment();
  peer.bytes_received->Increment(static_cast<double>(bytes));
}

void PeerLinks::Drop(std::string_view why) {
  frames_dropped_.fetch_add(1, std::memory_order_relaxed);
  if (options_.metrics != nullptr) options_.metrics->frames_dropped.Increment();
  spdlog::warn("job {}: dropped data frame: {}", set_.job_id, why);
}

void PeerLinks::BindLinkMetrics(Peer& peer, uint32_t peer_node, std::string_view transport) {
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

void PeerLinks::PublishMetrics() {
  NodeMetrics* metrics = options_.metrics;
  if (metrics == nullptr) return;
  if (shm_inbox_) {
    const auto& waits = shm_inbox_->frame_waits();
    for (size_t how = 0; how < waits.size(); ++how) {
      if (waits[how] == published_frame_waits_[how]) continue;
      metrics->frame_waits[how]->Increment(static_cast<double>(waits[how] - published_frame_waits_[how]));
      published_frame_waits_[how] = waits[how];
    }
  }
  for (Peer& peer : peers_) {
    if (peer.ring_occupancy != nullptr && peer.link) {
      peer.ring_occupancy->Set(static_cast<double>(peer.link->queued_bytes()));
    }
  }
}

std::vector<v1::LinkStats> PeerLinks::stats() const {
  std::vector<v1::LinkStats> out;
  for (uint32_t rank = 0; rank < peers_.size(); ++rank) {
    if (rank != set_.rank) out.push_back(peers_[rank].stats);
  }
  return out;
}

}  // namespace meshsim::node
