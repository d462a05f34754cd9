#include "coordinator/sync_choice.h"

namespace meshsim::coordinator {

v1::Sync ChooseSync(const v1::Scenario& scenario) {
  if (scenario.sync() != v1::SYNC_AUTO) return scenario.sync();
  // One node has no peer to wait for: saving state would be all cost.
  return scenario.nodes() > 1 ? v1::SYNC_OPTIMISTIC : v1::SYNC_CONSERVATIVE;
}

}  // namespace meshsim::coordinator
