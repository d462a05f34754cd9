// The kernel under optimistic synchronization (Time Warp, Jefferson 1985):
// running events ahead of the peers, rolling one LP back when an event from
// its past arrives, cancelling what undone events sent (locally, or by
// anti-messages through the sink), and fossil collection below GVT. The
// protocol that computes GVT and carries anti-messages between nodes is
// node/optimistic_sync; docs/synchronization.md describes both.
//
// Why the result is the conservative one: every LP ends up having run
// exactly the events below end_time that no rollback undid, each from the
// state, stream and send counter it had before it, in the same total order
// (OrderedBefore) the window loop uses, so every LP's state, every event
// it sent and every counter folded into the digest are the same.
#include <algorithm>
#include <cstring>
#include <limits>

#include "common/sim/kernel.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::sim {

absl::Status Kernel::EnableRollback(const OptimismBound& bound) {
  if (phase_ != Phase::kRunning) {
    return absl::FailedPreconditionError("rollback is enabled after init and the mailbox table");
  }
  if (history_) return absl::FailedPreconditionError("rollback is enabled once");
  if (!(bound.time_window > 0) || bound.max_saved_events == 0) {
    return absl::InvalidArgumentError("the optimism bound must allow some time and some saved events");
  }
  bound_ = bound;
  history_ = std::make_unique<ProcessedHistory>(state_bytes_, max_payload_bytes_);
  newest_.assign(local_lps_.size(), {ProcessedHistory::kNone, -std::numeric_limits<double>::infinity()});
  cancels_.reserve(64);
  committed_at_rollback_start_ = committed_;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Kernel::RunOptimistic(double gvt, double until, uint64_t max_events) {
  if (!history_) [[unlikely]]
    return absl::FailedPreconditionError("rollback is not enabled");
  const double limit = std::min({gvt + bound_.time_window, until, options_.end_time});
  uint64_t ran = 0;
  while (ran < max_events && !queue_.empty()) {
    const double time = queue_.top_time();
    if (!(time < limit)) break;
    // At the memory bound only events at GVT run: the earliest of them can
    // never be rolled back, so the job still moves on.
    if (history_->size() >= bound_.max_saved_events && time > gvt) break;
    const Event event = queue_.Pop();
    if (const auto next = queue_.next_dst_lp()) Prefetch(partition_->local_index(*next));
    const uint32_t local = partition_->local_index(event.dst_lp);
    const uint64_t record = history_->Append(event, local, newest_[local].index, rngs_[local], sent_[local],
                                             {state_.data() + local * state_stride_, state_bytes_});
    newest_[local] = {record, event.time};
    LpContext& context = Bind(local, event.time);
    ++processed_[local];
    ++committed_;
    ++optimistic_.processed;
    const bool check = check_.every != 0 && --check_.until_next == 0;
    if (check) [[unlikely]] {
      check_.until_next = check_.every;
      check_.sends[0].clear();
      check_.recording = true;  // until CheckByRerunning
    }
    const absl::Status status = model_->OnEvent(context, event);
    history_->CloseSends(record);
    if (!status.ok()) [[unlikely]]
      return status;
    if (check) [[unlikely]]
      MESHSIM_RETURN_IF_ERROR(CheckByRerunning(record, local));
    ++ran;
  }
  return ran;
}

void Kernel::EnqueueOptimistic(const Event& event) {
  const uint32_t local = partition_->local_index(event.dst_lp);
  const NewestRecord& newest = newest_[local];
  // A kept record is never older than GVT and an arriving event never
  // earlier, so a freed record cannot hide a straggler. Most events are
  // later than anything their LP ran, which the time alone tells.
  if (event.time <= newest.time && history_->kept(newest.index) &&
      !OrderedBefore(history_->at(newest.index), event)) {
    RollBack(local, event, /*drop_from=*/false);
    DrainCancels();
  }
  queue_.Push(event);
}

void Kernel::DeliverOptimistic(const Event& event) {
  if (!early_antis_.empty()) [[unlikely]] {
    const auto it = std::find_if(early_antis_.begin(), early_antis_.end(),
                                 [&](const Event& anti) { return SameEventKey(anti, event); });
    if (it != early_antis_.end()) {
      early_antis_.erase(it);  // the event and its anti-message annihilate
      return;
    }
  }
  if (IsMailboxAddress(event.dst_lp)) {
    FanOut(MailboxOfAddress(event.dst_lp), event);
  } else {
    EnqueueOptimistic(event);
  }
}

void Kernel::DeliverAnti(const Event& event) {
  ++optimistic_.antis_received;
  if (IsMailboxAddress(event.dst_lp)) {
    // A cancelled post: every local copy of it goes. The copies arrive and
    // leave together, so the first subscriber's tells whether it is here.
    const auto& subscribers = mailboxes_[MailboxOfAddress(event.dst_lp)].local_subscribers;
    Event copy = event;
    for (size_t i = 0; i < subscribers.size(); ++i) {
      copy.dst_lp = subscribers[i];
      if (!CancelLocal(copy)) {
        MESHSIM_CHECK(i == 0, "a post's copies are cancelled together");
        early_antis_.push_back(event);
        return;
      }
    }
    mailbox_counters_.deliveries -= subscribers.size();
  } else if (!CancelLocal(event)) {
    early_antis_.push_back(event);
  }
  DrainCancels();
}

bool Kernel::CancelLocal(const Event& key) {
  if (queue_.Remove(key)) return true;
  const uint32_t local = partition_->local_index(key.dst_lp);
  if (!HasProcessed(local, key)) return false;
  RollBack(local, key, /*drop_from=*/true);
  return true;
}

bool Kernel::HasProcessed(uint32_t local, const Event& key) const {
  for (uint64_t index = newest_[local].index; history_->kept(index); index = history_->at(index).previous) {
    const ProcessedHistory::Record& record = history_->at(index);
    if (OrderedBefore(record, key)) return false;
    if (SameEventKey(record, key)) return true;
  }
  return false;
}

void Kernel::RollBack(uint32_t local, const Event& from, bool drop_from) {
  uint64_t index = newest_[local].index;
  uint64_t undone = 0;
  std::byte* state = state_.data() + local * state_stride_;
  while (history_->kept(index) && !OrderedBefore(history_->at(index), from)) {
    ProcessedHistory::Record& record = history_->at(index);
    // Newest first, so the last restore is the earliest undone event's.
    rngs_[local] = record.rng_before;
    sent_[local] = record.sent_before;
    if (state_bytes_ > 0) std::memcpy(state, history_->state_at(index).data(), state_bytes_);
    --processed_[local];
    --committed_;
    CancelSends(record);
    if (!(drop_from && SameEventKey(record, from))) {
      queue_.Push({record.time, record.dst_lp, record.src_lp, record.src_seq, history_->payload_at(index)});
    }
    record.undone = true;
    index = record.previous;
    ++undone;
  }
  newest_[local] = {
      index, history_->kept(index) ? history_->at(index).time : -std::numeric_limits<double>::infinity()};
  if (undone > 0) {
    ++optimistic_.rollbacks;
    optimistic_.rolled_back += undone;
  }
}

void Kernel::CancelSends(const ProcessedHistory::Record& record) {
  // The event's sends took consecutive sequence numbers from sent_before.
  for (uint64_t k = record.sends_begin; k < record.sends_end; ++k) {
    const ProcessedHistory::Sent& sent = history_->sent_at(k);
    const Event key{sent.time, sent.dst_lp, record.dst_lp, record.sent_before + (k - record.sends_begin), {}};
    if (IsMailboxAddress(sent.dst_lp)) {
      const Mailbox& mailbox = mailboxes_[MailboxOfAddress(sent.dst_lp)];
      Event copy = key;
      for (LpId subscriber : mailbox.local_subscribers) {
        copy.dst_lp = subscriber;
        cancels_.push_back(copy);
      }
      for (uint32_t rank : mailbox.remote_ranks) sink_->Cancel(rank, key);
      --mailbox_counters_.posts;
      mailbox_counters_.deliveries -= mailbox.local_subscribers.size();
      mailbox_counters_.remote_events -= mailbox.remote_ranks.size();
      optimistic_.antis_sent += mailbox.remote_ranks.size();
      continue;
    }
    const uint32_t owner = partition_->owner(sent.dst_lp);
    if (owner == options_.rank) {
      cancels_.push_back(key);
    } else {
      sink_->Cancel(owner, key);
      ++optimistic_.antis_sent;
    }
  }
}

void Kernel::DrainCancels() {
  while (!cancels_.empty()) {
    const Event key = cancels_.back();
    cancels_.pop_back();
    // A local event is enqueued the moment it is sent, so it is pending or
    // was processed.
    MESHSIM_CHECK(CancelLocal(key), StrCat("cancelled local event for lp ", key.dst_lp, " at t=", key.time,
                                           " is neither pending nor processed"));
  }
}

void Kernel::RollBackTo(double time) {
  if (!history_) return;
  // The earliest key at `time`: every event at or after it is undone.
  const Event from{time, 0, 0, 0, {}};
  for (uint32_t local = 0; local < newest_.size(); ++local) {
    if (history_->kept(newest_[local].index)) RollBack(local, from, /*drop_from=*/false);
  }
  DrainCancels();
}

void Kernel::FossilCollect(double gvt) {
  if (!history_) return;
  while (!history_->empty()) {
    const ProcessedHistory::Record& oldest = history_->at(history_->begin());
    if (!oldest.undone && !(oldest.time < gvt)) break;
    if (!oldest.undone) ++optimistic_.fossil_collected;
    history_->PopFront();
  }
}

}  // namespace meshsim::sim
