// Process-wide logging setup (spdlog). Every process logs to stderr, one line
// per event worth a person's attention, as text or as JSON lines.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "spdlog/formatter.h"
#include "spdlog/spdlog.h"

namespace meshsim::log {

enum class Format { kText, kJson };

struct Options {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  Format format = Format::kText;
  std::string process = "meshsim";  // shown in each line: "coordinator", "node-2"
};

// Installs the default logger. Returns INVALID_ARGUMENT for an unknown level
// or format name.
[[nodiscard]] absl::Status Init(const Options& options);

[[nodiscard]] absl::Status ParseFormat(std::string_view name, Format* format);

// The formatter Init installs for `options`: for kJson, one JSON object a
// line ({"ts","level","process","pid","msg"}), valid whatever the message
// holds (bytes that are not UTF-8 are replaced).
std::unique_ptr<spdlog::formatter> MakeFormatter(const Options& options);

}  // namespace meshsim::log
