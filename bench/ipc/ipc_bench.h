// `meshsim bench ipc`: each inter-process mechanism between two processes,
// measured in one run on the user's machine (ipc_channels.h lists them).
//
// For each mechanism and message size: round-trip latency (the bench sends,
// the peer echoes; p50 and p99 of every round trip in the time given) and
// one-way throughput (the bench streams messages for the time given, then
// asks for an acknowledgement; messages and megabytes per second). Each
// measurement warms up first, is bounded by `seconds`, and is repeated;
// the report is the median over repetitions.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace meshsim::bench {

struct IpcBenchOptions {
  std::vector<size_t> sizes = {64, 1024, 65536};
  double seconds = 0.2;  // per measurement and repetition
  int repetitions = 3;
};

struct IpcResult {
  std::string mechanism;
  std::string note;  // how the two ends run, when it is not "two processes"
  size_t size = 0;
  double p50_us = 0;  // round trip
  double p99_us = 0;
  double messages_per_second = 0;
  double megabytes_per_second = 0;
};

// Runs every mechanism; `progress` hears the name of each as it starts.
[[nodiscard]] absl::StatusOr<std::vector<IpcResult>> RunIpcBench(
    const IpcBenchOptions& options, const std::function<void(const std::string&)>& progress);

// Parses "64,1K,64KiB,1M" into byte counts (1 byte to 16 MiB each).
[[nodiscard]] absl::StatusOr<std::vector<size_t>> ParseSizes(const std::string& text);

}  // namespace meshsim::bench
