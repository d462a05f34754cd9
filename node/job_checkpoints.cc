#include "node/job_checkpoints.h"

#include "common/status/status.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {

JobCheckpoints::JobCheckpoints(CheckpointOwner owner, double every_seconds, CheckpointClient* client,
                               NodeMetrics* metrics)
    : owner_(owner),
      every_seconds_(every_seconds),
      client_(client),
      metrics_(metrics),
      last_checkpoint_(SteadyClock::now()) {}

bool JobCheckpoints::Want() const {
  if (client_ == nullptr || !(every_seconds_ > 0)) return false;
  // A part still on its way: the next can wait, rather than pile up.
  return SecondsSince(last_checkpoint_) >= every_seconds_ && !client_->busy();
}

void JobCheckpoints::Save(sim::Kernel& kernel, CheckpointCut cut) {
  const auto begin = SteadyClock::now();
  last_checkpoint_ = begin;
  const sim::MailboxCounters& mailboxes = kernel.mailbox_counters();
  checkpoint::CheckpointPartWriter writer({.job_id = owner_.job_id,
                                           .attempt = owner_.attempt,
                                           .rank = owner_.rank,
                                           .ranks = owner_.ranks,
                                           .state_bytes = static_cast<uint32_t>(kernel.model().state_bytes()),
                                           .window = cut.window,
                                           .next_time = cut.next_time,
                                           .lp_count = owner_.lp_count,
                                           .mailbox_posts = mailboxes.posts,
                                           .mailbox_deliveries = mailboxes.deliveries,
                                           .mailbox_remote_events = mailboxes.remote_events});
  kernel.SaveCheckpoint(writer);
  CheckpointUpload upload{owner_.node_id,
                          owner_.job_id,
                          owner_.attempt,
                          cut.window,
                          owner_.rank,
                          cut.next_time,
                          std::move(writer).Finish()};
  const double seconds = SecondsSince(begin);
  if (metrics_ != nullptr) metrics_->checkpoint_save_seconds.Observe(seconds);
  spdlog::info("job {}: checkpoint at window {} (t={}): {} KiB saved in {:.1f} ms", owner_.job_id, cut.window,
               cut.next_time, upload.bytes.size() / 1024, seconds * 1e3);
  client_->Submit(std::move(upload));
}

absl::StatusOr<CheckpointCut> JobCheckpoints::Restore(sim::Kernel& kernel,
                                                      const std::vector<std::vector<std::byte>>& parts,
                                                      size_t max_payload_bytes) {
  std::vector<checkpoint::CheckpointPart> parsed;
  for (const auto& bytes : parts) {
    auto part = checkpoint::CheckpointPart::Parse(bytes, max_payload_bytes);
    if (!part.ok()) {
      return Annotate(part.status(), StrCat("job ", owner_.job_id, ": checkpoint part ", parsed.size()));
    }
    parsed.push_back(*part);
  }
  if (parsed.empty()) return absl::DataLossError(StrCat("job ", owner_.job_id, ": checkpoint has no parts"));
  const auto& first = parsed.front().header();
  for (const auto& part : parsed) {
    if (part.header().window != first.window || part.header().job_id != owner_.job_id ||
        part.header().ranks != parsed.size()) {
      return absl::DataLossError(StrCat("job ", owner_.job_id, ": checkpoint parts disagree (rank ",
                                        part.header().rank, " is of window ", part.header().window, ")"));
    }
  }
  MESHSIM_RETURN_IF_ERROR(Annotate(kernel.Restore(parsed), StrCat("job ", owner_.job_id)));
  if (metrics_ != nullptr) metrics_->restores.Increment();
  spdlog::info(
      "job {}: attempt {} restored window {} (t={}) from {} parts: {} LPs and {} pending events here",
      owner_.job_id, owner_.attempt, first.window, first.next_time, parsed.size(), kernel.local_lp_count(),
      kernel.pending_events());
  return CheckpointCut{first.window, first.next_time};
}

}  // namespace meshsim::node
