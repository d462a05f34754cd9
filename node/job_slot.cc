#include "node/job_slot.h"

#include "common/status/status.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {

absl::StatusOr<std::optional<v1::PrepareJobReply>> JobSlot::CheckPrepare(uint64_t job_id,
                                                                         uint32_t attempt) const {
  std::lock_guard lock(mutex_);
  if (job_id == 0) return absl::InvalidArgumentError("job id 0 names no job");
  if (job_id_ == job_id && attempt_ == attempt) return prepared_reply_;  // a retried call
  if (job_id_ != 0) {
    return absl::FailedPreconditionError(StrCat("node busy with job ", job_id_, " attempt ", attempt_));
  }
  return std::nullopt;
}

absl::Status JobSlot::Prepare(std::unique_ptr<JobRunner> runner, const v1::PrepareJobReply& reply,
                              std::set<std::string> peer_keys) {
  std::lock_guard lock(mutex_);
  if (job_id_ != 0) return absl::FailedPreconditionError("node busy");
  prepared_reply_ = reply;
  job_id_ = runner->job_id();
  attempt_ = runner->attempt();
  prepared_ = std::move(runner);
  started_ = false;
  std::lock_guard peers_lock(data_peers_mutex_);
  data_peer_keys_ = std::move(peer_keys);
  return absl::OkStatus();
}

absl::Status JobSlot::Start(const v1::StartJobRequest& request) {
  std::lock_guard lock(mutex_);
  // Job 0 is "none": an idle node holds job 0 and nothing prepared.
  if (request.job_id() == 0 || job_id_ != request.job_id() || attempt_ != request.attempt()) {
    return absl::NotFoundError(
        StrCat("job ", request.job_id(), " attempt ", request.attempt(), " is not prepared here"));
  }
  if (started_ || running_ != nullptr) return absl::OkStatus();  // a retried call
  std::vector<v1::Transport> transports;
  for (int transport : request.link_transports()) transports.push_back(static_cast<v1::Transport>(transport));
  MESHSIM_RETURN_IF_ERROR(prepared_->InstallMailboxes(request.mailboxes()));
  MESHSIM_RETURN_IF_ERROR(prepared_->ConnectLinks(transports));
  started_ = true;
  changed_.notify_all();
  return absl::OkStatus();
}

bool JobSlot::Drop(uint64_t job_id, uint32_t attempt, std::string_view why) {
  std::lock_guard lock(mutex_);
  if (job_id == 0 || job_id_ != job_id || attempt_ != attempt) return false;
  spdlog::warn("job {}: attempt {} dropped: {}", job_id, attempt, why);
  if (running_ != nullptr) {
    running_->RequestAbort();  // Finish() clears the slot when the run ends
    return true;
  }
  prepared_.reset();
  started_ = false;
  job_id_ = 0;
  attempt_ = 0;
  ForgetDataPeers();
  return true;
}

std::unique_ptr<JobRunner> JobSlot::TakeStarted(Duration wait) {
  std::unique_lock lock(mutex_);
  if (prepared_ && !started_ && !stopping_) changed_.wait_for(lock, wait);
  if (!started_ || !prepared_ || stopping_) return nullptr;
  started_ = false;
  running_ = prepared_.get();
  return std::move(prepared_);
}

void JobSlot::Finish(const JobRunner& runner) {
  std::lock_guard lock(mutex_);
  ended_frames_dropped_ += runner.frames_dropped();
  running_ = nullptr;
  job_id_ = 0;
  attempt_ = 0;
  ForgetDataPeers();
}

bool JobSlot::AdoptIfPrepared(std::vector<std::byte>& frame, std::string_view sender) {
  std::lock_guard lock(mutex_);
  if (!prepared_) return false;
  prepared_->AdoptEarlyFrame(std::move(frame), std::string(sender));
  frame = {};
  return true;
}

bool JobSlot::prepared() const {
  std::lock_guard lock(mutex_);
  return prepared_ != nullptr;
}

HeldJob JobSlot::held() const {
  std::lock_guard lock(mutex_);
  HeldJob held{job_id_, attempt_, running_ != nullptr, {}};
  if (running_ != nullptr) held.progress = running_->progress();
  return held;
}

uint64_t JobSlot::frames_dropped() const {
  std::lock_guard lock(mutex_);
  const uint64_t running = running_ != nullptr ? running_->frames_dropped() : 0;
  return ended_frames_dropped_ + running + stray_frames_dropped_.load(std::memory_order_relaxed);
}

bool JobSlot::AdmitsDataPeer(const std::string& key) const {
  std::lock_guard lock(data_peers_mutex_);
  return data_peer_keys_.contains(key);
}

uint64_t JobSlot::Stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  if (running_ != nullptr) running_->RequestAbort();
  changed_.notify_all();
  return job_id_;
}

void JobSlot::ForgetDataPeers() {
  std::lock_guard peers_lock(data_peers_mutex_);
  data_peer_keys_.clear();
}

}  // namespace meshsim::node
