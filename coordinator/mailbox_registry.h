// The mailbox registry of a job: which ranks subscribe to each mailbox,
// merged from the subscriptions every node reports when it prepares the job
// (indirect message passing; docs/architecture.md).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/meshsim.pb.h"

namespace meshsim::coordinator {

// Merges each rank's subscribed mailbox names (indexed by rank) into the
// table every node of the job receives: one entry per mailbox, sorted by
// name, with the subscribing ranks ascending. INVALID_ARGUMENT, naming the
// rank, for a name a node should never have reported (empty or too long).
[[nodiscard]] absl::StatusOr<std::vector<v1::MailboxRoute>> BuildMailboxTable(
    const std::vector<std::vector<std::string>>& subscribed_by_rank);

}  // namespace meshsim::coordinator
