// One job's checkpoints on one node: when to ask for the next one, saving
// this node's part at a consistent cut (a conservative window barrier; a
// GVT cut for an optimistic protocol), and restoring the kernel from a
// checkpoint's parts in place of the model's Init. Uploading is the node's
// CheckpointClient; this decides and serializes.
//
// Thread-safety: the job's thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sim/kernel.h"
#include "common/time/clock.h"
#include "node/checkpoint_client.h"
#include "node/node_metrics.h"

namespace meshsim::node {

// Whose part a checkpoint part is.
struct CheckpointOwner {
  uint32_t node_id = 0;
  uint64_t job_id = 0;
  uint32_t attempt = 0;
  uint32_t rank = 0;
  uint32_t ranks = 0;
  uint64_t lp_count = 0;
};

// A consistent cut: every event sent before it sits in some node's queue.
// The run goes on at `window` + 1, from virtual time `next_time`.
struct CheckpointCut {
  uint64_t window = 0;
  double next_time = 0;
};

class JobCheckpoints {
 public:
  // No checkpoints when `client` is null or `every_seconds` is not > 0.
  // `metrics` may be null.
  JobCheckpoints(CheckpointOwner owner, double every_seconds, CheckpointClient* client, NodeMetrics* metrics);

  // Whether this node asks for a checkpoint at the next cut: one is due and
  // the last part has left.
  bool Want() const;
  // Saves this node's part at `cut` and hands it to the uploader.
  void Save(sim::Kernel& kernel, CheckpointCut cut);
  // Restores `kernel` from every part of one checkpoint (any node count);
  // returns the cut to resume from. DATA_LOSS when parts are bad or
  // disagree.
  [[nodiscard]] absl::StatusOr<CheckpointCut> Restore(sim::Kernel& kernel,
                                                      const std::vector<std::vector<std::byte>>& parts,
                                                      size_t max_payload_bytes);

 private:
  CheckpointOwner owner_;
  double every_seconds_;
  CheckpointClient* client_;
  NodeMetrics* metrics_;
  TimePoint last_checkpoint_;
};

}  // namespace meshsim::node
