#include "common/status/status.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/strings/format.h"

namespace meshsim {

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), StrCat(context, ": ", status.message()));
}

void CheckFailed(const char* file, int line, const char* condition, std::string_view message) {
  // stderr directly: the logger itself may be what broke.
  std::fprintf(stderr, "meshsim: check failed at %s:%d: %s: %.*s\n", file, line, condition,
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace meshsim
