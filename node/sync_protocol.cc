#include "node/sync_protocol.h"

#include "common/strings/format.h"
#include "node/conservative_sync.h"
#include "node/optimistic_sync.h"

namespace meshsim::node {

std::unique_ptr<SyncProtocol> MakeSyncProtocol(const JobParts& parts) {
  if (parts.optimistic) return std::make_unique<OptimisticSync>(parts);
  return std::make_unique<ConservativeSync>(parts);
}

std::optional<frame::FrameHeader> AcceptHeader(const JobParts& parts, std::span<const std::byte> bytes,
                                               const FrameOrigin& origin, bool optimistic) {
  PeerLinks& links = *parts.links;
  auto header = frame::FrameCodec::PeekHeader(bytes);
  if (!header.ok()) {
    links.Drop(ToStd(header.status().message()));
    return std::nullopt;
  }
  if (header->run_id != parts.run_id) {
    links.Drop(StrCat("frame of job ", frame::JobOfRun(header->run_id), " attempt ",
                      frame::AttemptOfRun(header->run_id), " (expected job ", frame::JobOfRun(parts.run_id),
                      " attempt ", frame::AttemptOfRun(parts.run_id), ")"));
    return std::nullopt;
  }
  if (header->source_rank >= links.ranks() || header->source_rank == parts.rank) {
    links.Drop(StrCat("frame from rank ", header->source_rank, ", which is not a peer"));
    return std::nullopt;
  }
  if (!links.Authentic(header->source_rank, origin)) return std::nullopt;
  if (((header->flags & frame::kFlagOptimistic) != 0) != optimistic) {
    links.Drop(StrCat("frame from rank ", header->source_rank, " of the ",
                      optimistic ? "conservative" : "optimistic", " protocol; this job runs the ",
                      optimistic ? "optimistic" : "conservative", " one"));
    return std::nullopt;
  }
  return *header;
}

}  // namespace meshsim::node
