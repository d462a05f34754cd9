#include "coordinator/mailbox_registry.h"

#include <map>

#include "common/frame/mailbox_address.h"
#include "common/strings/format.h"
#include "meshsim/event.h"

namespace meshsim::coordinator {

absl::StatusOr<std::vector<v1::MailboxRoute>> BuildMailboxTable(
    const std::vector<std::vector<std::string>>& subscribed_by_rank) {
  std::map<std::string_view, std::vector<uint32_t>> ranks_by_name;
  for (uint32_t rank = 0; rank < subscribed_by_rank.size(); ++rank) {
    for (const std::string& name : subscribed_by_rank[rank]) {
      if (name.empty() || name.size() > sim::kMaxMailboxNameBytes) {
        return absl::InvalidArgumentError(
            StrCat("rank ", rank, " reported a mailbox name of ", name.size(), " bytes"));
      }
      std::vector<uint32_t>& ranks = ranks_by_name[name];
      // Ranks are visited in order, so a repeat can only be the last one.
      if (ranks.empty() || ranks.back() != rank) ranks.push_back(rank);
    }
  }
  std::vector<v1::MailboxRoute> table;
  table.reserve(ranks_by_name.size());
  for (const auto& [name, ranks] : ranks_by_name) {
    v1::MailboxRoute& route = table.emplace_back();
    route.set_name(std::string(name));
    route.mutable_ranks()->Add(ranks.begin(), ranks.end());
  }
  return table;
}

}  // namespace meshsim::coordinator
