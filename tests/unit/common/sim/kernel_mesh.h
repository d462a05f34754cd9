// The kernels of one job in one process, run by the node's conservative
// window loop (node/conservative_sync.cc): each window runs every kernel up
// to the earliest pending event plus the lookahead, then the events each
// kernel routed to another rank are delivered, as nodes exchange frames at
// the barrier. The kernel tests (mailboxes, checkpoints, optimistic runs)
// share it so that there is one copy of that loop outside the node.
//
// Or optimistically (RunOptimistic): ranks run ahead in turns drawn from a
// seed while what they send stays in flight for a random while, in order
// between each pair of ranks as on the data plane, so that stragglers,
// rollbacks and anti-messages happen; GVT is the exact minimum over the
// kernels' pending events and everything in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "common/checkpoint/checkpoint_codec.h"
#include "common/sim/kernel.h"

namespace meshsim::sim {

class KernelMesh {
 public:
  // One model instance per rank, as each node creates its own.
  using ModelFactory = std::function<std::unique_ptr<Model>()>;
  // An event routed from one rank to another: (from, to, dst_lp as routed,
  // which for a mailbox post is its wire address).
  using Crossing = std::tuple<uint32_t, uint32_t, LpId>;

  // `options.rank` is set per kernel.
  KernelMesh(KernelOptions options, PartitionMap partition, const ModelFactory& make_model);

  // Every rank's init, the mailbox table as the coordinator builds it (by
  // name, the ranks with subscribers in ascending order), and the exchange
  // of what init sent.
  [[nodiscard]] absl::Status Init();
  // In place of Init: every rank restores from the parts of one checkpoint,
  // takes the mailbox table, and continues at the checkpoint's window.
  [[nodiscard]] absl::Status Restore(std::span<const checkpoint::CheckpointPart> parts);

  // Runs windows until virtual time `until` (the last window cut short
  // there), the job's end time, or `stop_after_window` windows in all.
  [[nodiscard]] absl::Status Run(double until = std::numeric_limits<double>::infinity(),
                                 uint64_t stop_after_window = UINT64_MAX);

  // Runs every rank optimistically to the job's end (after Init or
  // Restore). INTERNAL when it has not ended after `max_steps` turns.
  [[nodiscard]] absl::Status RunOptimistic(uint64_t seed, const OptimismBound& bound,
                                           uint64_t max_steps = 50'000'000);
  // Makes RunOptimistic run the model-contract check on every rank.
  void CheckModelContract(uint64_t every) { check_every_ = every; }
  // GVT rounds RunOptimistic computed.
  uint64_t gvt_rounds() const { return gvt_rounds_; }

  // The job's result, summed over ranks as the coordinator sums nodes'
  // reports. Folds every kernel: call once, at the end.
  struct Outcome {
    uint64_t committed = 0;
    uint64_t digest = 0;
    std::vector<int64_t> summary;
    std::vector<int64_t> first_series;
    MailboxCounters mailboxes;
  };
  Outcome Finish();

  uint32_t ranks() const { return static_cast<uint32_t>(kernels_.size()); }
  Kernel& kernel(uint32_t rank) { return *kernels_[rank]; }
  const PartitionMap& partition() const { return partition_; }
  uint64_t window() const { return window_; }
  // Start of the next window: the earliest pending event on any rank.
  double next_time() const { return next_; }
  const std::vector<Crossing>& crossings() const { return crossings_; }

 private:
  // Collects one rank's outgoing events and anti-messages in the order they
  // were sent, payloads copied, until the exchange.
  class Outbox final : public RemoteSink {
   public:
    struct Routed {
      uint32_t rank;
      Event event;
      std::vector<std::byte> payload;
      bool anti = false;
    };
    void Route(uint32_t rank, const Event& event) override {
      routed.push_back({rank, event, {event.payload.begin(), event.payload.end()}});
    }
    void Cancel(uint32_t rank, const Event& event) override { routed.push_back({rank, event, {}, true}); }
    std::vector<Routed> routed;
  };

  absl::Status InstallMailboxes();
  void Exchange();
  void Deliver(uint32_t from, Outbox::Routed& routed);

  KernelOptions options_;
  PartitionMap partition_;
  std::vector<Outbox> outboxes_;
  std::vector<std::unique_ptr<Kernel>> kernels_;
  std::vector<Crossing> crossings_;
  uint64_t window_ = 0;
  uint64_t gvt_rounds_ = 0;
  uint64_t check_every_ = 0;
  double next_ = 0;
};

// The shipped models at test size, shared by the kernel tests.
ModelContext SmallPhold(uint32_t lps, double end_time, double lookahead, double remote_fraction);
// Posts to households and workplaces besides direct sends.
ModelContext SmallEpidemic(uint32_t persons, double end_time);

// Fails the calling test where two runs' results differ.
void ExpectSameOutcome(const KernelMesh::Outcome& got, const KernelMesh::Outcome& want);

}  // namespace meshsim::sim
