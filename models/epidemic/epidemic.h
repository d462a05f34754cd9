// An SEIR epidemic on a synthetic population, the model a person runs for
// its answer (how many fall ill, when the peak comes) rather than as a
// benchmark. One LP per person; three layers of contact:
//
//   household  persons lp / household_size live together; mailbox
//              "household/<h>"
//   workplace  persons scattered over workplaces of workplace_size (so a
//              workplace spans nodes); mailbox "workplace/<w>"
//   community  direct contacts with one of the person's `friends` fixed
//              contacts (drawn once per job from the seed), or with anyone
//              when friends = 0 (well-mixed)
//
// A person infected at t0 is latent until t0 + latent_days, then
// infectious for an exponentially distributed period of mean
// infectious_days. Everything the infection causes is sent at t0, so every
// delay is at least the lookahead: community contacts (a Poisson process of
// community_rate per day over the infectious period, each infecting a
// susceptible target), and one post per layer announcing the infectious
// period. A susceptible subscriber draws when the poster would infect it,
// at the layer's per-pair rate, and infects itself then if that falls
// within the period and it is still susceptible (competing risks, exact in
// continuous time). latent_days >= 2 * lookahead keeps that self-event a
// lookahead away.
//
// Series: susceptible, exposed, infectious, recovered persons at the start
// of each day. Summary: infected, by layer (seed, community, household,
// workplace), and posts made.
#pragma once

#include "meshsim/model.h"

namespace meshsim::models {

sim::ModelInfo EpidemicModelInfo();

}  // namespace meshsim::models
