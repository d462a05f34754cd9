// String building on {fmt}, for error messages: the project's own helper,
// not part of the model SDK (models call fmt, which the SDK provides).
// Debian's abseil has its own string_view type, so absl::StrCat does not
// take std::string_view; meshsim builds messages with these helpers
// instead, and fmt learns to print absl::string_view (which
// absl::Status::message() returns).
#pragma once

#include <iterator>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  auto format(absl::string_view text, fmt::format_context& context) const {
    return fmt::formatter<std::string_view>::format(std::string_view(text.data(), text.size()), context);
  }
};

namespace meshsim {

// Concatenates the text form of each argument (numbers in their shortest
// exact form).
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (fmt::format_to(std::back_inserter(*out), "{}", args), ...);
}

// Joins the elements of `range` with `separator`.
template <typename Range>
std::string StrJoin(const Range& range, std::string_view separator) {
  return fmt::format("{}", fmt::join(range, separator));
}

inline std::string_view ToStd(absl::string_view text) { return {text.data(), text.size()}; }

// A byte count for people: "512 B", "3.4 KiB", "12.50 MiB", "1.25 GiB".
inline std::string HumanBytes(double bytes) {
  if (bytes >= 1 << 30) return fmt::format("{:.2f} GiB", bytes / (1 << 30));
  if (bytes >= 1 << 20) return fmt::format("{:.2f} MiB", bytes / (1 << 20));
  if (bytes >= 1 << 10) return fmt::format("{:.1f} KiB", bytes / (1 << 10));
  return fmt::format("{:.0f} B", bytes);
}

}  // namespace meshsim
