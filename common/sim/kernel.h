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
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sim/event_queue.h"
#include "common/sim/model.h"
#include "common/sim/partition.h"

namespace meshsim::sim {

// Receives events sent to LPs owned by other ranks.
class RemoteSink {
 public:
  virtual ~RemoteSink() = default;
  virtual void Route(uint32_t rank, const Event& event) = 0;
};

struct KernelOptions {
  uint64_t seed = 0;
  double end_time = 0;
  double lookahead = 0;
  uint32_t rank = 0;
};

struct KernelOutcome {
  uint64_t digest = 0;           // sum over this node's LPs of each LP's state hash
  std::vector<int64_t> summary;  // per Model::summary_fields()
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

  // Processes, in order, every pending event with time < min(window_end,
  // end_time). Events sent meanwhile are at least one lookahead later, so
  // none of them falls in this window.
  [[nodiscard]] absl::Status RunWindow(double window_end);

  // Enqueues an event from another node. Precondition: dst_lp is local.
  void Deliver(const Event& event) { queue_.Push(event); }

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

 private:
  friend class LpContext;
  Kernel(const KernelOptions& options, std::unique_ptr<Model> model, const PartitionMap* partition,
         RemoteSink* sink);
  LpContext& Bind(uint32_t local_index, double now);
  absl::Status Route(LpContext& from, LpId dst_lp, double delay, std::span<const std::byte> payload);

  KernelOptions options_;
  std::unique_ptr<Model> model_;
  const PartitionMap* partition_;
  RemoteSink* sink_;
  size_t max_payload_bytes_;
  EventQueue queue_;
  std::span<const LpId> local_lps_;
  std::vector<Rng> rngs_;
  std::vector<uint64_t> sent_;
  std::vector<uint64_t> processed_;
  std::vector<std::byte> state_;  // state_stride_ bytes per local LP
  size_t state_stride_;
  LpContext context_;
  uint64_t committed_ = 0;
};

}  // namespace meshsim::sim
