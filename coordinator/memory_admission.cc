#include "coordinator/memory_admission.h"

#include <algorithm>
#include <functional>

#include "common/checkpoint/checkpoint_format.h"
#include "common/frame/frame_format.h"
#include "common/scenario/scenario.h"
#include "common/sim/kernel.h"
#include "common/strings/format.h"
#include "common/transport/shm/shm_link.h"

namespace meshsim::coordinator {
namespace {

// A node process before its first job: code, libraries, thread stacks,
// ZeroMQ and metrics (an idle node's peak RSS is about 20 MB).
constexpr uint64_t kNodeProcessBytes = 64ull << 20;

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

NodeMemoryNeed EstimateNodeMemory(const sim::Model& model, const v1::Scenario& scenario, uint32_t nodes) {
  const uint64_t lps = CeilDiv(model.lp_count(), nodes);
  const uint64_t events = CeilDiv(model.initial_events(), nodes);
  const sim::KernelMemory kernel =
      sim::Kernel::Estimate(lps, model.state_bytes(), events, model.max_payload_bytes());
  NodeMemoryNeed need;
  need.lp_bytes = kernel.lp_states + kernel.lp_records;
  need.event_bytes = kernel.pending_events;
  if (scenario.checkpoint_every_seconds() > 0) {
    need.checkpoint_bytes = lps * (checkpoint::kLpFixedBytes + model.state_bytes()) +
                            events * (frame::kEventFixedBytes + model.max_payload_bytes());
  }
  // A ring out to and one in from every peer (tcp queues are of that order).
  need.fixed_bytes = kNodeProcessBytes + 2ull * (nodes - 1) * (transport::shm::kDefaultRingBytes + 4096);
  return need;
}

absl::Status CheckJobFitsMemory(const sim::Model& model, const v1::Scenario& scenario,
                                std::vector<uint64_t> node_memory) {
  std::erase(node_memory, 0);  // nodes that did not say
  if (node_memory.empty()) return absl::OkStatus();
  std::ranges::sort(node_memory, std::greater<>());
  const uint32_t nodes = scenario.nodes();
  // The job gets the roomiest nodes; with fewer registered than it asks
  // for, the rest are taken to be like the smallest.
  const uint64_t room = node_memory[std::min<size_t>(nodes, node_memory.size()) - 1];
  const NodeMemoryNeed need = EstimateNodeMemory(model, scenario, nodes);
  if (need.total() <= room) return absl::OkStatus();
  std::string fits = StrCat("no number of such nodes holds it (tried up to ", scenario::kMaxNodes, ")");
  const uint32_t most = static_cast<uint32_t>(std::min<uint64_t>(scenario::kMaxNodes, model.lp_count()));
  for (uint32_t more = nodes + 1; more <= most; ++more) {
    if (EstimateNodeMemory(model, scenario, more).total() <= room) {
      fits = StrCat("it would fit on ", more, " such nodes (--nodes ", more, ")");
      break;
    }
  }
  return absl::ResourceExhaustedError(StrCat(
      "job not accepted: on ", nodes, nodes == 1 ? " node" : " nodes", " it needs about ",
      HumanBytes(static_cast<double>(need.total())), " per node (",
      HumanBytes(static_cast<double>(need.lp_bytes)), " for LPs, ",
      HumanBytes(static_cast<double>(need.event_bytes)), " for pending events",
      need.checkpoint_bytes > 0
          ? StrCat(", ", HumanBytes(static_cast<double>(need.checkpoint_bytes)), " for a checkpoint part")
          : std::string(),
      ", ", HumanBytes(static_cast<double>(need.fixed_bytes)),
      " for the process and its rings), and the nodes it would get may use ",
      HumanBytes(static_cast<double>(room)), nodes == 1 ? "" : " each", "; ", fits));
}

}  // namespace meshsim::coordinator
