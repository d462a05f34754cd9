#include "common/process/process_memory.h"

#include <fstream>
#include <string>
#include <string_view>

namespace meshsim::process {
namespace {

// A "Name:   1234 kB" line of /proc/self/status.
std::optional<uint64_t> StatusKilobytes(std::string_view name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 && line[name.size()] == ':') {
      try {
        return std::stoull(line.substr(name.size() + 1)) * 1024;
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> PeakResidentBytes() { return StatusKilobytes("VmHWM"); }

bool ResetPeakResident() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

}  // namespace meshsim::process
