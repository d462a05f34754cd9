// The windowed conservative protocol (docs/synchronization.md):
//
//   exchange window 0 (events sent by init), T = global min next time
//   while T < end_time:
//     process local events with time < T + lookahead
//     send each peer one frame (its events + this node's next-time bound),
//     wait for one frame from each peer, enqueue their events,
//     T = min over all nodes' next-time bounds
//
// Every node computes the same T from the same frames, so no coordinator
// round trip sits in the loop. A window barrier is a consistent cut: a
// checkpoint any node asks for in its frame is taken there by all.
#pragma once

#include <vector>

#include "node/sync_protocol.h"

namespace meshsim::node {

class ConservativeSync final : public SyncProtocol {
 public:
  // `parts` must outlive the protocol (its kernel is set after).
  explicit ConservativeSync(const JobParts& parts);

  absl::StatusOr<RunSummary> Run(const RunStart& start) override;
  void Route(uint32_t rank, const sim::Event& event) override;

 private:
  struct PeerWindow {
    frame::FrameWriter writer;
    std::vector<std::byte> stash;  // a frame of the next window, received early
    bool stashed = false;
    bool received = false;  // this window's frame is in
  };

  // Sends this window's frames and collects the peers'; returns the global
  // minimum next event time. `want_checkpoint` asks every node to save a
  // checkpoint at this barrier; checkpoint_agreed_ says whether any did.
  absl::StatusOr<double> Exchange(uint64_t window, double sent_floor, bool want_checkpoint);
  absl::Status SendFrames(uint64_t window, double next_bound, bool want_checkpoint);
  // Waits until every peer's frame for `window` is in.
  absl::Status AwaitFrames(uint64_t window, double sent_floor, double* global_next);
  absl::Status Stalled(uint64_t window) const;
  // Takes one frame for `window`: delivers it, stashes it, or drops it.
  // Returns true when it was this window's frame from a peer.
  bool Accept(std::vector<std::byte>& bytes, const FrameOrigin& origin, uint64_t window, double sent_floor,
              double* global_next);
  bool Deliver(std::span<const std::byte> bytes, double sent_floor, double* global_next);
  void BeginFrames(uint64_t window);

  const JobParts& parts_;          // the runner's; outlives this
  std::vector<PeerWindow> peers_;  // by rank
  std::vector<std::byte> incoming_;
  FrameOrigin incoming_origin_;
  bool checkpoint_agreed_ = false;
  double min_sent_time_;  // over events routed to peers this window
};

}  // namespace meshsim::node
