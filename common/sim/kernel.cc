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
      state_stride_((state_bytes_ + 7) & ~size_t{7}) {
  const size_t n = local_lps_.size();
  rngs_.reserve(n);
  for (LpId lp : local_lps_) rngs_.push_back(Rng::ForLp(options.seed, lp));
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
  const uint32_t owner = partition_->owner(dst_lp);
  if (owner == options_.rank) {
    queue_.Push(event);
  } else {
    sink_->Route(owner, event);
  }
  return absl::OkStatus();
}

absl::Status Kernel::CheckMailboxName(const BoundLp& from, std::string_view verb,
                                      std::string_view name) const {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        StrCat("lp ", from.lp_id, " at t=", from.time, ": ", verb, " mailbox '': the name is empty"));
  }
  if (name.size() > kMaxMailboxNameBytes) {
    return absl::InvalidArgumentError(StrCat("lp ", from.lp_id, " at t=", from.time, ": ", verb, " mailbox '",
                                             name.substr(0, 40), "...': the name has ", name.size(),
                                             " bytes, at most ", kMaxMailboxNameBytes, " are allowed"));
  }
  return absl::OkStatus();
}

absl::Status Kernel::RefuseWhileRestoring(const BoundLp& from, std::string_view verb) const {
  return absl::FailedPreconditionError(StrCat(
      "lp ", from.lp_id, ": ", verb, " while restoring from a checkpoint; RestoreState may only subscribe"));
}

absl::Status Kernel::Subscribe(const BoundLp& lp, std::string_view mailbox) {
  if (phase_ != Phase::kInit && phase_ != Phase::kRestoring) {
    return absl::FailedPreconditionError(StrCat("lp ", lp.lp_id, " at t=", lp.time,
                                                ": subscribe to mailbox '", mailbox,
                                                "' outside init; LPs subscribe during init"));
  }
  MESHSIM_RETURN_IF_ERROR(CheckMailboxName(lp, "subscribe to", mailbox));
  auto it = subscriptions_.find(mailbox);
  if (it == subscriptions_.end())
    it = subscriptions_.emplace(std::string(mailbox), std::vector<LpId>{}).first;
  // Init runs in ascending LP order, so each list stays sorted.
  if (it->second.empty() || it->second.back() != lp.lp_id) it->second.push_back(lp.lp_id);
  return absl::OkStatus();
}

absl::Status Kernel::Post(BoundLp& from, std::string_view mailbox, double delay,
                          std::span<const std::byte> payload) {
  if (phase_ == Phase::kRestoring) [[unlikely]]
    return RefuseWhileRestoring(from, "post");
  MESHSIM_RETURN_IF_ERROR(CheckTiming(from, StrCat("post to mailbox '", mailbox, "':"), delay, payload));
  MESHSIM_RETURN_IF_ERROR(CheckMailboxName(from, "post to", mailbox));
  const Event event{from.time + delay, 0, from.lp_id, *from.sent, payload};
  if (phase_ == Phase::kInit) {
    // Other nodes' subscriptions are not known yet.
    deferred_posts_.push_back({event.src_lp, event.src_seq, event.time, std::string(mailbox),
                               std::vector<std::byte>(payload.begin(), payload.end())});
  } else {
    MESHSIM_RETURN_IF_ERROR(
        Annotate(SendPost(mailbox, event), StrCat("lp ", from.lp_id, " at t=", from.time)));
  }
  ++*from.sent;
  return absl::OkStatus();
}

absl::Status Kernel::SendPost(std::string_view mailbox, const Event& event) {
  const auto it = mailbox_ids_.find(mailbox);
  if (it == mailbox_ids_.end()) [[unlikely]] {
    return absl::InvalidArgumentError(StrCat("post to mailbox '", mailbox, "', which no LP subscribes to"));
  }
  const MailboxId id = it->second;
  ++mailbox_counters_.posts;
  FanOut(id, event);
  Event remote = event;
  remote.dst_lp = MailboxAddress(id);
  for (uint32_t rank : mailboxes_[id].remote_ranks) {
    sink_->Route(rank, remote);
    ++mailbox_counters_.remote_events;
  }
  return absl::OkStatus();
}

void Kernel::FanOut(MailboxId id, Event event) {
  const auto& subscribers = mailboxes_[id].local_subscribers;
  for (LpId lp : subscribers) {
    event.dst_lp = lp;
    queue_.Push(event);
  }
  mailbox_counters_.deliveries += subscribers.size();
}

std::vector<std::string> Kernel::subscribed_mailboxes() const {
  std::vector<std::string> names;
  names.reserve(subscriptions_.size());
  for (const auto& [name, lps] : subscriptions_) names.push_back(name);
  return names;
}

absl::Status Kernel::InstallMailboxes(std::vector<MailboxRoute> table) {
  // A node whose init neither subscribed nor posted may still post to
  // other nodes' mailboxes later, so it takes the table too.
  const bool needed_none = phase_ == Phase::kRunning && mailboxes_.empty() && mailbox_ids_.empty();
  if (phase_ != Phase::kAwaitingMailboxes && !needed_none) {
    return absl::FailedPreconditionError("the mailbox table is installed once, after init");
  }
  if (table.size() > kMailboxAddressBit) {
    return absl::InvalidArgumentError(StrCat("mailbox table of ", table.size(), " entries is too large"));
  }
  const uint32_t ranks = partition_->ranks();
  std::vector<Mailbox> mailboxes(table.size());
  size_t matched = 0;
  for (size_t id = 0; id < table.size(); ++id) {
    const MailboxRoute& route = table[id];
    if (id > 0 && !(table[id - 1].name < route.name)) {
      return absl::InvalidArgumentError(
          StrCat("mailbox table is not sorted by unique name at entry ", id, " ('", route.name, "')"));
    }
    bool listed_here = false;
    for (size_t i = 0; i < route.ranks.size(); ++i) {
      const uint32_t rank = route.ranks[i];
      if (rank >= ranks || (i > 0 && route.ranks[i - 1] >= rank)) {
        return absl::InvalidArgumentError(StrCat("mailbox '", route.name, "': bad rank list"));
      }
      if (rank == options_.rank) {
        listed_here = true;
      } else {
        mailboxes[id].remote_ranks.push_back(rank);
      }
    }
    auto local = subscriptions_.find(route.name);
    if (listed_here != (local != subscriptions_.end())) {
      return absl::InvalidArgumentError(StrCat("mailbox table disagrees with rank ", options_.rank,
                                               "'s subscriptions for mailbox '", route.name, "'"));
    }
    if (listed_here) {
      mailboxes[id].local_subscribers = std::move(local->second);
      ++matched;
    }
  }
  if (matched != subscriptions_.size()) {
    return absl::InvalidArgumentError(StrCat("mailbox table lacks ", subscriptions_.size() - matched,
                                             " of rank ", options_.rank, "'s subscribed mailboxes"));
  }
  mailboxes_ = std::move(mailboxes);
  mailbox_ids_.reserve(table.size());
  for (size_t id = 0; id < table.size(); ++id) {
    mailbox_ids_.emplace(std::move(table[id].name), static_cast<MailboxId>(id));
  }
  subscriptions_.clear();
  phase_ = Phase::kRunning;
  for (const DeferredPost& post : deferred_posts_) {
    const Event event{post.time, 0, post.src_lp, post.src_seq, post.payload};
    MESHSIM_RETURN_IF_ERROR(Annotate(SendPost(post.mailbox, event), StrCat("init of lp ", post.src_lp)));
  }
  deferred_posts_.clear();
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

}  // namespace meshsim::sim

namespace meshsim::sim {

void Kernel::SaveCheckpoint(checkpoint::CheckpointPartWriter& out) {
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
