// This process's resident memory, from /proc/self (Linux): the peak since
// the last reset, so a node can report the peak of each job it runs; and
// how much memory it may use at most, which a node reports when it
// registers so the coordinator can refuse a job that would not fit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meshsim::process {

// VmHWM of /proc/self/status in bytes; nullopt where it cannot be read.
std::optional<uint64_t> PeakResidentBytes();
// VmSize (mapped address space, what RLIMIT_AS caps) of process `pid`.
std::optional<uint64_t> VirtualMemoryBytes(pid_t pid);
// Starts the peak afresh at the resident memory now (writes 5 to
// /proc/self/clear_refs). False where the kernel refuses: the peak is then
// the process's since it started.
bool ResetPeakResident();

// The most memory this process can have, and what sets it.
struct MemoryLimit {
  uint64_t bytes = 0;
  std::string source;  // "MemTotal", "cgroup memory.max", "RLIMIT_AS", "RLIMIT_DATA"
};
// The least of the host's memory, the process's cgroup (v2) memory.max and
// those of its parent cgroups, and its address-space and data rlimits.
MemoryLimit ProcessMemoryLimit();

// "512M", "6G", "1.5GiB", "1000000": bytes. INVALID_ARGUMENT-style text in
// `error` and nullopt for anything else.
std::optional<uint64_t> ParseByteSize(std::string_view text, std::string* error);

}  // namespace meshsim::process
