#include "coordinator/transport_choice.h"

#include "common/strings/format.h"

namespace meshsim::coordinator {

absl::StatusOr<std::vector<std::vector<v1::Transport>>> ChooseTransports(
    v1::Transport requested, const std::vector<std::vector<bool>>& sees) {
  const size_t ranks = sees.size();
  std::vector<std::vector<v1::Transport>> chosen(ranks, std::vector<v1::Transport>(ranks, v1::TRANSPORT_TCP));
  for (size_t a = 0; a < ranks; ++a) {
    for (size_t b = 0; b < ranks; ++b) {
      if (a == b) continue;
      // Both must see each other: then both map each other's rings.
      const bool shared = sees[a][b] && sees[b][a];
      if (requested == v1::TRANSPORT_SHM && !shared) {
        return absl::FailedPreconditionError(
            StrCat("transport shm: ranks ", a, " and ", b,
                   " cannot share memory (different host or IPC namespace); use transport auto or tcp"));
      }
      if (requested != v1::TRANSPORT_TCP && shared) chosen[a][b] = v1::TRANSPORT_SHM;
    }
  }
  return chosen;
}

}  // namespace meshsim::coordinator
