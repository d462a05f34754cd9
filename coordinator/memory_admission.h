// Admission by memory: what each node of a job will hold, estimated from
// its model before any node runs it (the kernel's own layout: LP arrays,
// pending events, a checkpoint part while it is built, the process and
// its rings), against what the nodes said at registration they may use.
// The model's own structures (e.g. a contact network) are not in it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "meshsim/model.h"
#include "proto/meshsim.pb.h"

namespace meshsim::coordinator {

struct NodeMemoryNeed {
  uint64_t lp_bytes = 0;          // state blocks, random streams, counters
  uint64_t event_bytes = 0;       // the pending-event set
  uint64_t checkpoint_bytes = 0;  // a checkpoint part, held while it is built and sent
  uint64_t fixed_bytes = 0;       // the node process, its rings
  uint64_t total() const { return lp_bytes + event_bytes + checkpoint_bytes + fixed_bytes; }
};

// What the node with the most LPs needs when the job runs on `nodes`.
NodeMemoryNeed EstimateNodeMemory(const sim::Model& model, const v1::Scenario& scenario, uint32_t nodes);

// OK when the job fits the `node_memory` (bytes each registered node may
// use; none known: OK, the job waits for nodes). RESOURCE_EXHAUSTED saying
// what it needs and how many such nodes would hold it otherwise.
absl::Status CheckJobFitsMemory(const sim::Model& model, const v1::Scenario& scenario,
                                std::vector<uint64_t> node_memory);

}  // namespace meshsim::coordinator
