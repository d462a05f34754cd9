// The Coordinator service's checkpoints: the parts nodes upload at window
// barriers and the parts a restarted job downloads.
#include <algorithm>

#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "coordinator/internal/job_states.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {
namespace {

using internal::kCheckpointsKept;
using internal::WallSeconds;

constexpr uint32_t kMaxCheckpointChunkBytes = 8 << 20;

}  // namespace

bool Coordinator::RecordStoredPart(JobRecord& job, const v1::PutCheckpointRequest& part, uint32_t ranks,
                                   uint64_t bytes) {
  PendingCheckpoint& pending = job.pending_checkpoints[{part.window(), part.attempt()}];
  pending.ranks.insert(part.rank());
  pending.bytes += bytes;
  if (part.rank() == 0) pending.virtual_time = part.virtual_time();
  if (pending.ranks.size() < ranks) return false;
  // Complete: it becomes the job's newest once it is in the database.
  v1::CheckpointInfo* info = job.info.add_checkpoints();
  info->set_window(part.window());
  info->set_attempt(part.attempt());
  info->set_parts(ranks);
  info->set_virtual_time(pending.virtual_time);
  info->set_bytes(pending.bytes);
  info->set_at_unix(WallSeconds());
  job.info.set_checkpoints_written(job.info.checkpoints_written() + 1);
  job.pending_checkpoints.erase({part.window(), part.attempt()});
  spdlog::info("job {}: checkpoint at window {} (t={}) complete: {} parts, {:.1f} KiB", job.info.job_id(),
               part.window(), info->virtual_time(), ranks, static_cast<double>(info->bytes()) / 1024);
  auto* list = job.info.mutable_checkpoints();
  while (list->size() > static_cast<int>(kCheckpointsKept)) {
    checkpoints_->Remove({job.info.job_id(), list->begin()->window(), list->begin()->attempt()});
    list->erase(list->begin());
  }
  // Parts of checkpoints older than this one that never completed.
  std::erase_if(job.pending_checkpoints, [&](const auto& entry) {
    if (entry.first.first >= part.window()) return false;
    checkpoints_->Remove({job.info.job_id(), entry.first.first, entry.first.second});
    return true;
  });
  Persist(job);
  metrics_.checkpoints->Increment();
  return true;
}

absl::Status Coordinator::HandlePutCheckpoint(const v1::PutCheckpointRequest& request,
                                              v1::PutCheckpointReply* reply) {
  const CheckpointKey key{request.job_id(), request.window(), request.attempt()};
  uint32_t ranks = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(request.job_id());
    if (it == jobs_.end()) return absl::NotFoundError(StrCat("no job ", request.job_id()));
    const JobRecord& job = it->second;
    if (job.info.state() != v1::RUNNING || job.info.attempt() != request.attempt()) {
      return absl::FailedPreconditionError(
          StrCat("job ", request.job_id(), " attempt ", request.attempt(), " is not running"));
    }
    ranks = static_cast<uint32_t>(job.info.assigned_nodes_size());
    if (request.rank() >= ranks ||
        job.info.assigned_nodes(static_cast<int>(request.rank())) != request.node_id()) {
      return absl::PermissionDeniedError(
          StrCat("node ", request.node_id(), " is not rank ", request.rank(), " of job ", request.job_id()));
    }
  }
  if (request.data().size() > kMaxCheckpointChunkBytes) {
    return absl::InvalidArgumentError(StrCat("checkpoint chunk of ", request.data().size(), " bytes"));
  }
  const auto begin = SteadyClock::now();
  auto stored = checkpoints_->PutChunk(key, request.rank(), request.offset(), request.data(), request.last());
  if (!stored.ok()) {
    spdlog::warn("job {}: checkpoint at window {}: part of rank {} not stored: {}", request.job_id(),
                 request.window(), request.rank(), stored.status().message());
    CountCheckpointFailure(stored.status());
    return stored.status();
  }
  if (!request.last()) return absl::OkStatus();
  metrics_.checkpoint_write_seconds->Observe(SecondsSince(begin));
  metrics_.checkpoint_bytes->Increment(static_cast<double>(*stored));
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end() || it->second.info.attempt() != request.attempt()) {
    checkpoints_->Remove(key);  // the attempt ended while the part was written
    return absl::FailedPreconditionError(
        StrCat("job ", request.job_id(), " attempt ", request.attempt(), " is over"));
  }
  reply->set_complete(RecordStoredPart(it->second, request, ranks, *stored));
  return absl::OkStatus();
}

absl::Status Coordinator::HandleGetCheckpoint(const v1::GetCheckpointRequest& request,
                                              v1::GetCheckpointReply* reply) {
  const CheckpointKey key{request.job_id(), request.window(), request.attempt()};
  uint64_t total = 0;
  const uint32_t max_bytes = std::min(std::max<uint32_t>(request.max_bytes(), 1), kMaxCheckpointChunkBytes);
  MESHSIM_ASSIGN_OR_RETURN(*reply->mutable_data(),
                           checkpoints_->ReadChunk(key, request.rank(), request.offset(), max_bytes, &total));
  reply->set_total_bytes(total);
  return absl::OkStatus();
}

}  // namespace meshsim::coordinator
