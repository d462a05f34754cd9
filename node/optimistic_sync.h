// Optimistic synchronization across nodes (Time Warp; docs/synchronization.md,
// "Optimistic"):
//
//   cut round 0 (what init sent goes out)
//   loop:
//     take every frame that is in: events (a straggler rolls back the LPs
//       it reaches) and anti-messages; peers' cuts and GVT reports
//     run a batch of events ahead of GVT (Kernel::RunOptimistic), then send
//       each peer what the batch sent it
//     cut the next GVT round when every peer has entered this one
//     when GVT of a round is known: fossil-collect below it; at the end
//       time, or when a node asked for a checkpoint in that round, stop
//
// GVT rounds (after Mattern's two-colour algorithm, on FIFO links). Every
// frame is tagged with the round its sender was in. A node's cut of round
// k+1 flushes what it has buffered in one frame per peer (flag kFlagCut),
// which carries its report for round k: the lowest event time it held at
// its cut of k, lowered by every message of round k-1 that reached it after
// that cut. It cuts k+1 once every peer has entered k, so by then every
// message of round k-1 has reached it. Anything any node runs or sends
// later descends from what was held at the cuts of k or from those late
// messages, so GVT(k), the minimum of all nodes' reports, is a lower bound
// on every event time from then on. Every node computes it from the same
// reports, without the coordinator and without stopping.
//
// A stop (the end time, or a checkpoint at T = GVT(k)) is the one barrier:
// each node rolls back to T, sends each peer a frame flagged kFlagStop
// with what it still holds for it, and takes frames until every peer's
// stop is in. Then nothing is in flight: a consistent cut, saved like a
// conservative barrier, or the end.
#pragma once

#include <array>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "common/time/clock.h"
#include "node/sync_protocol.h"

namespace meshsim::node {

class OptimisticSync final : public SyncProtocol {
 public:
  // `parts` must outlive the protocol (its kernel is set after).
  explicit OptimisticSync(const JobParts& parts);

  absl::StatusOr<RunSummary> Run(const RunStart& start) override;
  void Route(uint32_t rank, const sim::Event& event) override;
  void Cancel(uint32_t rank, const sim::Event& event) override;

 private:
  // A peer's reports of the rounds GVT is not known for yet (at most two:
  // no node enters round k+2 before every node has left round k).
  static constexpr size_t kReportSlots = 4;
  struct Report {
    double bound = 0;
    bool wants_checkpoint = false;
  };
  struct Peer {
    frame::FrameWriter writer;  // what this node has for the peer, unsent
    // Over TCP: when the writer was first seen holding something unsent.
    bool sent_since_flush = false;
    TimePoint oldest_unsent;
    uint64_t round = 0;  // the round the peer is in
    std::array<Report, kReportSlots> reports{};
    bool stopped = false;  // its frame for the current stop is in
    // Frames it sent after that stop, kept until this node has passed it:
    // they belong after the checkpoint.
    std::deque<std::vector<std::byte>> after_stop;
  };
  enum class StopKind { kNone, kCheckpoint, kEnd };
  // A frame read while a send waited for ring space, taken after.

  absl::Status RunLoop();
  // Takes the frames that are in, waiting up to `wait` for the first.
  // The job fails on a frame a peer sent that cannot be taken: under this
  // protocol every frame counts, and there is no window to wait in.
  absl::Status TakeFrames(Duration wait);
  absl::Status TakeFrame(std::vector<std::byte>& bytes, const FrameOrigin& origin);
  absl::Status Deliver(const frame::FrameHeader& header, std::span<const std::byte> bytes);
  // Sends each peer's frame when it is due (SendWhatIsDue: over a ring at
  // once, over TCP by age or size) or now (Flush, every peer, with `flags`).
  absl::Status SendWhatIsDue();
  absl::Status Flush(uint32_t flags, double report);
  absl::Status SendTo(uint32_t rank, uint32_t flags, double report);
  bool CanCut() const;
  absl::Status Cut();
  // GVT of every round whose reports are all in; a stop when one calls for it.
  absl::Status AdvanceGvt();
  absl::Status BeginStop(StopKind kind, double at);
  bool AllPeersStopped() const;
  absl::Status FinishStop();
  absl::Status Stalled() const;
  // Unless the scenario fixes it: halves the window past GVT when rollbacks
  // undid more than a fifth of what ran since the last change, doubles it
  // when they undid under a tenth and the window held the node back.
  void AdaptWindow();

  const JobParts& parts_;    // the runner's; outlives this
  std::vector<Peer> peers_;  // by rank
  std::vector<std::byte> incoming_;
  FrameOrigin incoming_origin_;

  double window_;      // virtual time this node may run past GVT
  bool fixed_window_;  // the scenario's, or adapted
  bool held_by_window_ = false;
  uint64_t run_at_adapt_ = 0;
  uint64_t undone_at_adapt_ = 0;

  uint64_t round_ = 0;    // this node's round
  double cut_bound_ = 0;  // lowest event time it held at its cut of round_
  double late_min_ = 0;   // over messages of round_ - 1 taken after that cut
  std::array<Report, kReportSlots> own_reports_{};
  uint64_t gvt_round_ = 0;  // the next round whose GVT is wanted
  double gvt_ = 0;
  uint64_t rounds_done_ = 0;  // GVT rounds completed
  TimePoint last_cut_;
  Duration cut_interval_;  // longer when a peer is over TCP
  TimePoint last_heard_;

  StopKind stop_ = StopKind::kNone;
  double stop_time_ = 0;
  uint64_t stop_round_ = 0;
  // The round of the last checkpoint stop: asks made before a node could
  // know of it (up to two rounds later) are answered by it.
  uint64_t last_checkpoint_round_ = 0;
  bool checkpointed_ = false;
  bool done_ = false;
};

}  // namespace meshsim::node
