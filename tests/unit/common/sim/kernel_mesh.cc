#include "tests/unit/common/sim/kernel_mesh.h"

#include <algorithm>
#include <map>

#include "common/status/status.h"

namespace meshsim::sim {

KernelMesh::KernelMesh(KernelOptions options, PartitionMap partition, const ModelFactory& make_model)
    : options_(options), partition_(std::move(partition)), outboxes_(partition_.ranks()) {
  for (uint32_t rank = 0; rank < partition_.ranks(); ++rank) {
    KernelOptions own = options_;
    own.rank = rank;
    auto kernel = Kernel::Create(own, make_model(), &partition_, &outboxes_[rank]);
    MESHSIM_CHECK(kernel.ok(), "the test's kernel options are valid");
    kernels_.push_back(std::move(*kernel));
  }
}

absl::Status KernelMesh::Init() {
  for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->Init());
  MESHSIM_RETURN_IF_ERROR(InstallMailboxes());
  Exchange();
  return absl::OkStatus();
}

absl::Status KernelMesh::Restore(std::span<const checkpoint::CheckpointPart> parts) {
  for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->Restore(parts));
  MESHSIM_RETURN_IF_ERROR(InstallMailboxes());
  window_ = parts.front().header().window;
  next_ = parts.front().header().next_time;
  return absl::OkStatus();
}

absl::Status KernelMesh::Run(double until, uint64_t stop_after_window) {
  const double end = std::min(until, options_.end_time);
  while (next_ < end && window_ < stop_after_window) {
    const double window_end = std::min(next_ + options_.lookahead, until);
    for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->RunWindow(window_end));
    ++window_;
    Exchange();
  }
  return absl::OkStatus();
}

absl::Status KernelMesh::InstallMailboxes() {
  std::map<std::string, std::vector<uint32_t>> ranks_by_name;
  for (uint32_t rank = 0; rank < ranks(); ++rank) {
    for (const std::string& name : kernels_[rank]->subscribed_mailboxes())
      ranks_by_name[name].push_back(rank);
  }
  std::vector<MailboxRoute> table;
  for (auto& [name, subscriber_ranks] : ranks_by_name) table.push_back({name, subscriber_ranks});
  for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->InstallMailboxes(table));
  return absl::OkStatus();
}

void KernelMesh::Exchange() {
  for (uint32_t from = 0; from < outboxes_.size(); ++from) {
    for (Outbox::Routed& routed : outboxes_[from].routed) {
      crossings_.emplace_back(from, routed.rank, routed.event.dst_lp);
      routed.event.payload = routed.payload;
      kernels_[routed.rank]->Deliver(routed.event);
    }
    outboxes_[from].routed.clear();
  }
  next_ = std::numeric_limits<double>::infinity();
  for (auto& kernel : kernels_) next_ = std::min(next_, kernel->next_event_time());
}

}  // namespace meshsim::sim
