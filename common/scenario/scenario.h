// Scenario files: parsing (YAML) and validation. A scenario says what a job
// runs: the model and its parameters, seed, end time, lookahead, node count,
// partition and transport, how often to checkpoint and how often to
// restart after lost nodes. Every error names the field and the problem.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/sim/optimism_bound.h"
#include "common/sim/partition.h"
#include "meshsim/model.h"
#include "proto/meshsim.pb.h"

namespace meshsim::scenario {

inline constexpr uint32_t kMaxNodes = 256;
// Checkpoints every this many wall seconds unless the scenario says.
inline constexpr double kDefaultCheckpointSeconds = 30;
inline constexpr uint32_t kDefaultMaxRestarts = 3;
inline constexpr uint32_t kMaxRestarts = 100;

// A scenario is a page of YAML; anything larger is refused before parsing
// (a file, or YAML submitted over the network).
inline constexpr size_t kMaxScenarioBytes = 1 << 20;

// Parses YAML text into a scenario and normalizes it (see below).
// `source` prefixes error messages ("phold.yaml:7: params.lps: ...").
// INVALID_ARGUMENT lists every problem found, one per line, or says the
// text is larger than kMaxScenarioBytes.
[[nodiscard]] absl::StatusOr<v1::Scenario> ParseYaml(std::string_view text, std::string_view source);

// Reads and parses a scenario file, never more than kMaxScenarioBytes + 1
// bytes of it (so /dev/zero is refused, not read forever). NOT_FOUND when
// it cannot be read.
[[nodiscard]] absl::StatusOr<v1::Scenario> LoadFile(const std::string& path);

// Validates a scenario from any source (a file or the network) against the
// models in the registry, and fills defaults: name, partition, transport,
// checkpoint interval, max_restarts and every model parameter left out. INVALID_ARGUMENT names each bad
// field. The model is created once on the way (to ask for its LP count);
// with `model`, it is handed over.
[[nodiscard]] absl::Status Normalize(v1::Scenario* scenario, std::unique_ptr<sim::Model>* model = nullptr);

// The model context for a normalized scenario.
sim::ModelContext ModelContextOf(const v1::Scenario& scenario);

sim::PartitionKind PartitionKindOf(v1::Partition partition);

std::string_view PartitionName(v1::Partition partition);
std::string_view TransportName(v1::Transport transport);
std::string_view SyncName(v1::Sync sync);
// The scenario's optimism block as the kernel's bound (unset fields: none
// in time, the default in saved events).
sim::OptimismBound OptimismBoundOf(const v1::Scenario& scenario);

}  // namespace meshsim::scenario
