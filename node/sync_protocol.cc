#include "node/sync_protocol.h"

#include "node/conservative_sync.h"

namespace meshsim::node {

std::unique_ptr<SyncProtocol> MakeSyncProtocol(const JobParts& parts) {
  return std::make_unique<ConservativeSync>(parts);
}

}  // namespace meshsim::node
