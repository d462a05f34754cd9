// This process's resident memory, from /proc/self (Linux): the peak since
// the last reset, so a node can report the peak of each job it runs.
#pragma once

#include <cstdint>
#include <optional>

namespace meshsim::process {

// VmHWM of /proc/self/status in bytes; nullopt where it cannot be read.
std::optional<uint64_t> PeakResidentBytes();
// Starts the peak afresh at the resident memory now (writes 5 to
// /proc/self/clear_refs). False where the kernel refuses: the peak is then
// the process's since it started.
bool ResetPeakResident();

}  // namespace meshsim::process
