#include "common/process/process_memory.h"

#include <sys/resource.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "common/strings/format.h"

namespace meshsim::process {
namespace {

// A "Name:   1234 kB" line of `path` (a /proc/<pid>/status), in bytes.
std::optional<uint64_t> StatusBytes(const std::string& path, std::string_view name) {
  std::ifstream status(path);
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

// "MemTotal:  24000000 kB" of /proc/meminfo.
std::optional<uint64_t> MemTotalBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string name;
  uint64_t kilobytes = 0;
  while (meminfo >> name >> kilobytes) {
    if (name == "MemTotal:") return kilobytes * 1024;
    meminfo.ignore(64, '\n');
  }
  return std::nullopt;
}

// The least memory.max from this process's cgroup (v2) up to the root;
// "max" means none.
std::optional<uint64_t> CgroupMemoryMax() {
  std::ifstream own("/proc/self/cgroup");
  std::string line;
  std::optional<uint64_t> least;
  while (std::getline(own, line)) {
    if (!line.starts_with("0::")) continue;
    for (std::filesystem::path dir = std::filesystem::path("/sys/fs/cgroup") / line.substr(4);;
         dir = dir.parent_path()) {
      std::ifstream max(dir / "memory.max");
      std::string value;
      if (max >> value && value != "max") {
        try {
          const uint64_t bytes = std::stoull(value);
          if (!least || bytes < *least) least = bytes;
        } catch (const std::exception&) {
        }
      }
      if (dir == "/sys/fs/cgroup" || dir == dir.parent_path()) break;
    }
  }
  return least;
}

std::optional<uint64_t> SoftRlimit(int resource) {
  struct rlimit limit {};
  if (::getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace

MemoryLimit ProcessMemoryLimit() {
  MemoryLimit limit{UINT64_MAX, "unknown"};
  auto consider = [&](std::optional<uint64_t> bytes, const char* source) {
    if (bytes && *bytes < limit.bytes) limit = {*bytes, source};
  };
  consider(MemTotalBytes(), "MemTotal");
  consider(CgroupMemoryMax(), "cgroup memory.max");
  consider(SoftRlimit(RLIMIT_AS), "RLIMIT_AS");
  consider(SoftRlimit(RLIMIT_DATA), "RLIMIT_DATA");
  return limit;
}

std::optional<uint64_t> ParseByteSize(std::string_view text, std::string* error) {
  size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  double number = 0;
  try {
    size_t used = 0;
    number = std::stod(std::string(text.substr(0, digits)), &used);
    if (used != digits) digits = 0;
  } catch (const std::exception&) {
    digits = 0;
  }
  std::string unit(text.substr(digits));
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "K" || unit == "KB" || unit == "KIB") scale = 1024.0;
  if (unit == "M" || unit == "MB" || unit == "MIB") scale = 1024.0 * 1024;
  if (unit == "G" || unit == "GB" || unit == "GIB") scale = 1024.0 * 1024 * 1024;
  if (unit == "T" || unit == "TB" || unit == "TIB") scale = 1024.0 * 1024 * 1024 * 1024;
  if (digits == 0 || scale == 0 || !std::isfinite(number) || number <= 0 || number * scale >= 1.8e19) {
    *error = "expected a size such as 512M, 6G or 1073741824 (bytes)";
    return std::nullopt;
  }
  return static_cast<uint64_t>(number * scale);
}

std::optional<uint64_t> PeakResidentBytes() { return StatusBytes("/proc/self/status", "VmHWM"); }

std::optional<uint64_t> VirtualMemoryBytes(pid_t pid) {
  return StatusBytes(StrCat("/proc/", pid, "/status"), "VmSize");
}

bool ResetPeakResident() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

}  // namespace meshsim::process
