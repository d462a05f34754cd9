// The kernel's mailboxes (direct and mailbox message passing, docs/models.md):
// subscribing during init, posting, fanning a post out to the local
// subscribers, and the job's routing table of which nodes subscribe.
#include "common/sim/kernel.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::sim {

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
  if (check_.recording && !NoteForCheck(event.time, std::hash<std::string_view>{}(mailbox), payload))
      [[unlikely]] {
    ++*from.sent;
    return absl::OkStatus();
  }
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
  if (history_) [[unlikely]]
    history_->LogSend(event.time, MailboxAddress(id));
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
    Enqueue(event);
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

}  // namespace meshsim::sim
