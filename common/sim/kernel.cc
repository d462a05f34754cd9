#include "common/sim/kernel.h"

#include <cmath>

#include "common/status/format.h"
#include "common/status/status.h"

namespace meshsim::sim {

uint64_t LpContext::lp_count() const { return kernel_->partition_->lp_count(); }

double LpContext::lookahead() const { return kernel_->options_.lookahead; }

absl::Status LpContext::Send(LpId dst_lp, double delay, std::span<const std::byte> payload) {
  return kernel_->Route(*this, dst_lp, delay, payload);
}

absl::StatusOr<std::unique_ptr<Kernel>> Kernel::Create(const KernelOptions& options,
                                                       std::unique_ptr<Model> model,
                                                       const PartitionMap* partition, RemoteSink* sink) {
  if (!(options.lookahead > 0) || !std::isfinite(options.lookahead)) {
    return absl::InvalidArgumentError("lookahead must be a positive finite number");
  }
  if (model->lp_count() != partition->lp_count()) {
    return absl::InvalidArgumentError(
        StrCat("model has ", model->lp_count(), " LPs but the partition covers ", partition->lp_count()));
  }
  if (model->max_payload_bytes() > kMaxEventPayloadBytes) {
    return absl::InvalidArgumentError(
        StrCat("model payloads of ", model->max_payload_bytes(), " bytes exceed ", kMaxEventPayloadBytes));
  }
  return std::unique_ptr<Kernel>(new Kernel(options, std::move(model), partition, sink));
}

Kernel::Kernel(const KernelOptions& options, std::unique_ptr<Model> model, const PartitionMap* partition,
               RemoteSink* sink)
    : options_(options),
      model_(std::move(model)),
      partition_(partition),
      sink_(sink),
      max_payload_bytes_(model_->max_payload_bytes()),
      queue_(max_payload_bytes_),
      local_lps_(partition->lps_of(options.rank)),
      state_stride_((model_->state_bytes() + 7) & ~size_t{7}) {
  const size_t n = local_lps_.size();
  rngs_.reserve(n);
  for (LpId lp : local_lps_) rngs_.push_back(Rng::ForLp(options.seed, lp));
  sent_.assign(n, 0);
  processed_.assign(n, 0);
  state_.assign(n * state_stride_, std::byte{0});
  context_.kernel_ = this;
}

LpContext& Kernel::Bind(uint32_t local_index, double now) {
  context_.lp_ = local_lps_[local_index];
  context_.now_ = now;
  context_.rng_ = &rngs_[local_index];
  context_.state_ = state_.data() + local_index * state_stride_;
  context_.sent_ = &sent_[local_index];
  return context_;
}

absl::Status Kernel::Route(LpContext& from, LpId dst_lp, double delay, std::span<const std::byte> payload) {
  if (!(delay >= options_.lookahead) || !std::isfinite(delay)) [[unlikely]] {
    return absl::InvalidArgumentError(StrCat("lp ", from.lp_, " at t=", from.now_, ": send delay ", delay,
                                             " is below the lookahead ", options_.lookahead));
  }
  if (dst_lp >= partition_->lp_count()) [[unlikely]] {
    return absl::InvalidArgumentError(StrCat("lp ", from.lp_, " sent to lp ", dst_lp,
                                             ", which does not exist (", partition_->lp_count(), " LPs)"));
  }
  if (payload.size() > max_payload_bytes_) [[unlikely]] {
    return absl::InvalidArgumentError(StrCat("lp ", from.lp_, " sent a payload of ", payload.size(),
                                             " bytes; the model declares at most ", max_payload_bytes_));
  }
  const Event event{from.now_ + delay, dst_lp, from.lp_, (*from.sent_)++, payload};
  const uint32_t owner = partition_->owner(dst_lp);
  if (owner == options_.rank) {
    queue_.Push(event);
  } else {
    sink_->Route(owner, event);
  }
  return absl::OkStatus();
}

absl::Status Kernel::Init() {
  for (uint32_t i = 0; i < local_lps_.size(); ++i) {
    LpContext& context = Bind(i, 0.0);
    MESHSIM_RETURN_IF_ERROR(Annotate(model_->Init(context), StrCat("init of lp ", local_lps_[i])));
  }
  return absl::OkStatus();
}

absl::Status Kernel::RunWindow(double window_end) {
  const double limit = window_end < options_.end_time ? window_end : options_.end_time;
  while (!queue_.empty() && queue_.top_time() < limit) {
    const Event event = queue_.Pop();
    const uint32_t local = partition_->local_index(event.dst_lp);
    LpContext& context = Bind(local, event.time);
    ++processed_[local];
    ++committed_;
    if (absl::Status status = model_->OnEvent(context, event); !status.ok()) [[unlikely]] {
      return status;
    }
  }
  return absl::OkStatus();
}

KernelOutcome Kernel::Fold() {
  KernelOutcome outcome;
  outcome.summary.assign(model_->summary_fields().size(), 0);
  for (uint32_t i = 0; i < local_lps_.size(); ++i) {
    uint64_t lp_hash = Mix64(0x5851f42d4c957f2dULL + local_lps_[i]);
    ResultFolder folder(&lp_hash, outcome.summary);
    folder.Mix(processed_[i]);
    folder.Mix(sent_[i]);
    folder.Mix(rngs_[i].state());
    model_->Fold(Bind(i, options_.end_time), folder);
    // A sum is independent of the order LPs are folded in, and so of the
    // partition.
    outcome.digest += Mix64(lp_hash);
  }
  return outcome;
}

}  // namespace meshsim::sim
