// How the nodes of a job keep their kernels in step: the seam between a
// job's parts (kernel, data plane, checkpoints, metrics; node/job_runner.h
// puts them together) and the protocol that drives them. The conservative
// window loop (node/conservative_sync.h, docs/synchronization.md) is one
// implementation; an optimistic (Time Warp) protocol goes beside it.
//
// A protocol is the kernel's RemoteSink: it decides how events for other
// ranks are batched into frames. It owns nothing of the job: the parts
// outlive it.
//
// Thread-safety: the job's thread only; `abort` is set from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "common/frame/frame_codec.h"
#include "common/sim/kernel.h"
#include "common/time/clock.h"
#include "node/job_checkpoints.h"
#include "node/job_metrics.h"
#include "node/peer_links.h"

namespace meshsim::node {

// What a protocol drives. `kernel` is set once the kernel exists (it is
// built with the protocol as its sink); `limits` grows its mailbox count
// when the mailbox table is installed.
struct JobParts {
  uint64_t job_id = 0;
  uint64_t run_id = 0;  // the attempt's name on the wire
  uint32_t rank = 0;
  double end_time = 0;
  double lookahead = 0;
  bool optimistic = false;            // the job's protocol (the scenario's sync, resolved)
  sim::OptimismBound optimism;        // how far an optimistic node may run ahead of GVT
  uint64_t contract_check_every = 0;  // optimism.check_every: 0 = no model-contract check
  std::string model_name;
  Duration stall_timeout = std::chrono::seconds(30);  // a peer silent this long fails the job
  sim::Kernel* kernel = nullptr;
  const sim::PartitionMap* partition = nullptr;
  PeerLinks* links = nullptr;
  JobCheckpoints* checkpoints = nullptr;
  JobMetrics* metrics = nullptr;
  const frame::DecodeLimits* limits = nullptr;
  const std::atomic<bool>* abort = nullptr;
};

// Where a run starts: window 0 after Init, or a checkpoint's cut.
struct RunStart {
  bool restored = false;
  CheckpointCut cut;
};

// How a run went, for the job's result.
struct RunSummary {
  uint64_t windows = 0;     // windows (or GVT rounds) completed
  double loop_seconds = 0;  // from the first barrier every node passed to the end
};

class SyncProtocol : public sim::RemoteSink {
 public:
  // Runs the job from `start` to its end time. ABORTED after an abort;
  // other errors name the cause (a model error, a stalled peer, a link).
  [[nodiscard]] virtual absl::StatusOr<RunSummary> Run(const RunStart& start) = 0;
};

// The protocol the job's scenario asks for.
std::unique_ptr<SyncProtocol> MakeSyncProtocol(const JobParts& parts);

// The checks every protocol makes of a received frame's header before it
// looks further: well formed, of this attempt, from a peer (authentic, with
// keys), of this protocol (kFlagOptimistic as `optimistic`). A frame that
// fails is dropped and counted here.
std::optional<frame::FrameHeader> AcceptHeader(const JobParts& parts, std::span<const std::byte> bytes,
                                               const FrameOrigin& origin, bool optimistic);

// Whether a received event is for this node: one of its LPs, or a mailbox
// some LP here subscribes to.
inline bool IsForThisNode(const JobParts& parts, const sim::Event& event) {
  return sim::IsMailboxAddress(event.dst_lp)
             ? parts.kernel->has_local_subscribers(sim::MailboxOfAddress(event.dst_lp))
             : parts.partition->owner(event.dst_lp) == parts.rank;
}

}  // namespace meshsim::node
