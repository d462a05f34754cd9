// Which synchronization protocol a job runs, decided once per attempt when
// it is assigned, before the nodes run init (whose sends already go through
// the protocol), so from the scenario alone: every node must run the same.
// The rule for `sync: auto` and the measurements behind it are in
// docs/synchronization.md ("Choosing a protocol").
#pragma once

#include "proto/meshsim.pb.h"

namespace meshsim::coordinator {

// SYNC_CONSERVATIVE or SYNC_OPTIMISTIC for a normalized scenario.
v1::Sync ChooseSync(const v1::Scenario& scenario);

}  // namespace meshsim::coordinator
