// PHOLD, the standard PDES benchmark, with ROSS's semantics so figures
// compare: each LP starts with `start_events` events to itself; on each
// event it draws U from its own stream and, if U <= remote_fraction, sends
// one new event to an LP drawn uniformly from all LPs (itself included),
// otherwise to itself. Every delay is lookahead + Exp(mean - lookahead), so
// `mean` is the total mean delay. The event population stays
// lps * start_events.
#pragma once

#include "meshsim/model.h"

namespace meshsim::models {

sim::ModelInfo PholdModelInfo();

}  // namespace meshsim::models
