#include "common/sim/kernel.h"

#include <cmath>

#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::sim {

LpId LpContext::lp() const { return BoundLp::Of(*this).lp_id; }

double LpContext::now() const { return BoundLp::Of(*this).time; }

Rng& LpContext::rng() { return *BoundLp::Of(*this).rng_stream; }

std::span<std::byte> LpContext::state_block() { return BoundLp::Of(*this).state; }

uint64_t LpContext::lp_count() const { return BoundLp::Of(*this).kernel->partition_->lp_count(); }

double LpContext::lookahead() const { return BoundLp::Of(*this).kernel->options_.lookahead; }

absl::Status LpContext::Send(LpId dst_lp, double delay, std::span<const std::byte> payload) {
  BoundLp& from = BoundLp::Of(*this);
  return from.kernel->Route(from, dst_lp, delay, payload);
}

absl::Status LpContext::Subscribe(std::string_view mailbox) {
  const BoundLp& lp = BoundLp::Of(*this);
  return lp.kernel->Subscribe(lp, mailbox);
}

absl::Status LpContext::Post(std::string_view mailbox, double delay, std::span<const std::byte> payload) {
  BoundLp& from = BoundLp::Of(*this);
  return from.kernel->Post(from, mailbox, delay, payload);
}

void RemoteSink::Cancel(uint32_t rank, const Event& event) {
  MESHSIM_CHECK(false, StrCat("anti-message for rank ", rank, " (lp ", event.dst_lp,
                              ") on a sink without optimistic synchronization"));
}

absl::StatusOr<std::unique_ptr<Kernel>> Kernel::Create(const KernelOptions& options,
                                                       std::unique_ptr<Model> model,
                                                       const PartitionMap* partition, RemoteSink* sink) {
  if (!(options.lookahead > 0) || !std::isfinite(options.lookahead)) {
    return absl::InvalidArgumentError("lookahead must be a positive finite number");
  }
  if (model->lp_count() >= kMaxLps) {
    return absl::InvalidArgumentError(
        StrCat("model has ", model->lp_count(), " LPs; at most ", kMaxLps - 1, " are supported"));
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
      state_bytes_(model_->state_bytes()),
      state_stride_(StateStride(state_bytes_)) {
  const size_t n = local_lps_.size();
  rngs_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) rngs_.push_back(Rng::ForLp(options.seed, local_lps_[i]));
  sent_.assign(n, 0);
  processed_.assign(n, 0);
  state_.assign(n * state_stride_, std::byte{0});
  context_.kernel = this;
}

void Kernel::Prefetch(uint32_t local_index) const {
  __builtin_prefetch(&rngs_[local_index], 1);
  __builtin_prefetch(state_.data() + local_index * state_stride_, 1);
  __builtin_prefetch(&sent_[local_index], 1);
  __builtin_prefetch(&processed_[local_index], 1);
}

LpContext& Kernel::Bind(uint32_t local_index, double now) {
  context_.lp_id = local_lps_[local_index];
  context_.time = now;
  context_.rng_stream = &rngs_[local_index];
  context_.state = {state_.data() + local_index * state_stride_, state_bytes_};
  context_.sent = &sent_[local_index];
  return context_;
}

absl::Status Kernel::CheckTiming(const BoundLp& from, std::string_view verb, double delay,
                                 std::span<const std::byte> payload) const {
  if (!(delay >= options_.lookahead) || !std::isfinite(delay)) [[unlikely]] {
    return absl::InvalidArgumentError(StrCat("lp ", from.lp_id, " at t=", from.time, ": ", verb, " delay ",
                                             delay, " is below the lookahead ", options_.lookahead));
  }
  if (payload.size() > max_payload_bytes_) [[unlikely]] {
    return absl::InvalidArgumentError(StrCat("lp ", from.lp_id, " at t=", from.time, ": ", verb,
                                             " payload of ", payload.size(),
                                             " bytes; the model declares at most ", max_payload_bytes_));
  }
  return absl::OkStatus();
}

absl::Status Kernel::Route(BoundLp& from, LpId dst_lp, double delay, std::span<const std::byte> payload) {
  if (phase_ == Phase::kRestoring) [[unlikely]]
    return RefuseWhileRestoring(from, "send");
  MESHSIM_RETURN_IF_ERROR(CheckTiming(from, "send", delay, payload));
  if (dst_lp >= partition_->lp_count()) [[unlikely]] {
    return absl::InvalidArgumentError(StrCat("lp ", from.lp_id, " sent to lp ", dst_lp,
                                             ", which does not exist (", partition_->lp_count(), " LPs)"));
  }
  const Event event{from.time + delay, dst_lp, from.lp_id, (*from.sent)++, payload};
  if (history_) [[unlikely]] {
    if (check_.recording && !NoteForCheck(event.time, dst_lp, payload)) [[unlikely]]
      return absl::OkStatus();
    history_->LogSend(event.time, dst_lp);
  }
  const uint32_t owner = partition_->owner(dst_lp);
  if (owner == options_.rank) {
    Enqueue(event);
  } else {
    sink_->Route(owner, event);
  }
  return absl::OkStatus();
}

absl::Status Kernel::Init() {
  if (phase_ != Phase::kCreated) return absl::FailedPreconditionError("init runs once");
  phase_ = Phase::kInit;
  for (uint32_t i = 0; i < local_lps_.size(); ++i) {
    LpContext& context = Bind(i, 0.0);
    MESHSIM_RETURN_IF_ERROR(Annotate(model_->Init(context), StrCat("init of lp ", local_lps_[i])));
  }
  // A job without mailboxes needs no table.
  phase_ = subscriptions_.empty() && deferred_posts_.empty() ? Phase::kRunning : Phase::kAwaitingMailboxes;
  return absl::OkStatus();
}

absl::Status Kernel::RunWindow(double window_end) {
  if (phase_ != Phase::kRunning) [[unlikely]] {
    return absl::FailedPreconditionError(
        phase_ == Phase::kAwaitingMailboxes ? "the mailbox table is not installed" : "init has not run");
  }
  const double limit = window_end < options_.end_time ? window_end : options_.end_time;
  while (!queue_.empty() && queue_.top_time() < limit) {
    const Event event = queue_.Pop();
    // With many LPs their state is out of cache: start fetching the next
    // event's while this one runs.
    if (const auto next = queue_.next_dst_lp()) Prefetch(partition_->local_index(*next));
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

KernelMemory Kernel::memory() const {
  KernelMemory memory;
  memory.lp_states = state_.capacity();
  memory.lp_records = rngs_.capacity() * sizeof(Rng) + sent_.capacity() * sizeof(uint64_t) +
                      processed_.capacity() * sizeof(uint64_t) + newest_.capacity() * sizeof(NewestRecord);
  memory.pending_events =
      queue_.memory_bytes() + cancels_.capacity() * sizeof(Event) + early_antis_.capacity() * sizeof(Event);
  memory.saved_states = saved_bytes();
  return memory;
}

KernelMemory Kernel::Estimate(uint64_t local_lps, size_t state_bytes, uint64_t pending_events,
                              size_t max_payload_bytes) {
  // The same arrays as the constructor makes, one entry per local LP.
  KernelMemory memory;
  memory.lp_states = local_lps * StateStride(state_bytes);
  memory.lp_records = local_lps * (sizeof(Rng) + 2 * sizeof(uint64_t));
  memory.pending_events =
      pending_events * (EventQueue::kKeyBytesPerPendingEvent + EventQueue::SlotBytes(max_payload_bytes));
  return memory;
}

KernelOutcome Kernel::Fold() {
  KernelOutcome outcome;
  outcome.summary.assign(model_->summary_fields().size(), 0);
  outcome.series_spec = model_->series();
  const double interval = outcome.series_spec.interval;
  const size_t points = outcome.series_spec.names.empty() || !(interval > 0)
                            ? 0
                            : static_cast<size_t>(std::floor(options_.end_time / interval * (1 + 1e-12))) + 1;
  std::vector<int64_t> series(outcome.series_spec.names.size() * points, 0);
  for (uint32_t i = 0; i < local_lps_.size(); ++i) {
    uint64_t lp_hash = Mix64(0x5851f42d4c957f2dULL + local_lps_[i]);
    BoundFolder folder;
    folder.lp_hash = &lp_hash;
    folder.summary = outcome.summary;
    folder.series = series;
    folder.series_points = points;
    folder.series_interval = interval;
    folder.Mix(processed_[i]);
    folder.Mix(sent_[i]);
    folder.Mix(rngs_[i].state());
    model_->Fold(Bind(i, options_.end_time), folder);
    // A sum is independent of the order LPs are folded in, and so of the
    // partition.
    outcome.digest += Mix64(lp_hash);
  }
  for (size_t k = 0; k < outcome.series_spec.names.size(); ++k) {
    outcome.series.emplace_back(series.begin() + static_cast<ptrdiff_t>(k * points),
                                series.begin() + static_cast<ptrdiff_t>((k + 1) * points));
  }
  return outcome;
}

void Kernel::SaveCheckpoint(checkpoint::CheckpointPartWriter& out) {
  // Optimistic: a checkpoint is taken at a stop, where every anti-message
  // has met its event.
  MESHSIM_CHECK(early_antis_.empty(), "no anti-message waits for its event at a checkpoint");
  // Payloads aside, the part's size is known: reserve it, since growing a
  // vector of gigabytes by doubling copies it and holds two at once.
  out.Reserve(local_lps_.size() * (checkpoint::kLpFixedBytes + state_bytes_) +
              queue_.size() * frame::kEventFixedBytes + checkpoint::kTrailerBytes);
  std::vector<std::byte> state;
  for (uint32_t i = 0; i < local_lps_.size(); ++i) {
    state.clear();
    StateWriter writer(&state);
    model_->SaveState(Bind(i, 0), writer);
    out.AddLp({local_lps_[i], rngs_[i].state(), rngs_[i].gamma(), sent_[i], processed_[i], state});
  }
  queue_.ForEach([&](const Event& event) { out.AddEvent(event); });
}

absl::Status Kernel::Restore(std::span<const checkpoint::CheckpointPart> parts) {
  if (phase_ != Phase::kCreated) return absl::FailedPreconditionError("restore replaces init, and runs once");
  std::vector<checkpoint::LpRecord> records(local_lps_.size());
  std::vector<bool> found(local_lps_.size(), false);
  size_t restored = 0;
  for (const auto& part : parts) {
    const auto& header = part.header();
    if (header.lp_count != partition_->lp_count() || header.state_bytes != model_->state_bytes()) {
      return absl::FailedPreconditionError(StrCat(
          "checkpoint part of rank ", header.rank, " has ", header.lp_count, " LPs of ", header.state_bytes,
          " state bytes; this model has ", partition_->lp_count(), " of ", model_->state_bytes()));
    }
    part.ForEachLp([&](const checkpoint::LpRecord& record) {
      if (partition_->owner(record.lp) != options_.rank) return;
      const uint32_t local = partition_->local_index(record.lp);
      if (!found[local]) ++restored;
      found[local] = true;
      records[local] = record;
    });
    if (options_.rank == 0) {
      mailbox_counters_.posts += header.mailbox_posts;
      mailbox_counters_.deliveries += header.mailbox_deliveries;
      mailbox_counters_.remote_events += header.mailbox_remote_events;
    }
  }
  if (restored != local_lps_.size()) {
    return absl::DataLossError(
        StrCat("checkpoint holds ", restored, " of rank ", options_.rank, "'s ", local_lps_.size(), " LPs"));
  }
  phase_ = Phase::kRestoring;  // RestoreState re-makes the subscriptions Init made
  const double now = parts.empty() ? 0 : parts.front().header().next_time;
  for (uint32_t i = 0; i < local_lps_.size(); ++i) {
    const checkpoint::LpRecord& record = records[i];
    rngs_[i] = Rng::FromState(record.rng_state, record.rng_gamma);
    sent_[i] = record.sent;
    processed_[i] = record.processed;
    committed_ += record.processed;
    StateReader reader(record.state);
    MESHSIM_RETURN_IF_ERROR(
        Annotate(model_->RestoreState(Bind(i, now), reader), StrCat("restore of lp ", local_lps_[i])));
  }
  for (const auto& part : parts) {
    part.ForEachEvent([&](const Event& event) {
      if (partition_->owner(event.dst_lp) == options_.rank) queue_.Push(event);
    });
  }
  phase_ = subscriptions_.empty() ? Phase::kRunning : Phase::kAwaitingMailboxes;
  return absl::OkStatus();
}

}  // namespace meshsim::sim
