// Which transport each directed link of a job uses, from what the nodes
// saw when prepared: shared memory where both nodes of a pair opened each
// other's co-location probe with the right token (same host and IPC
// namespace: a container shares memory with another only if both see it),
// TCP otherwise. Hostnames and keys play no part: with keys, an shm ring is
// trusted because only its creator can write it (docs/security.md).
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "proto/meshsim.pb.h"

namespace meshsim::coordinator {

// `requested`: the scenario's transport (auto, shm or tcp). `sees[a][b]`:
// rank a opened rank b's probe. Returns [from][to]; FAILED_PRECONDITION
// when the scenario asks for shm and a pair cannot share memory.
[[nodiscard]] absl::StatusOr<std::vector<std::vector<v1::Transport>>> ChooseTransports(
    v1::Transport requested, const std::vector<std::vector<bool>>& sees);

}  // namespace meshsim::coordinator
