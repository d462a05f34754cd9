// Error handling conventions: fallible calls return absl::Status or
// absl::StatusOr<T>; the codes are the gRPC codes so an error crosses an RPC
// unchanged. Broken invariants abort through MESHSIM_CHECK.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshsim/status.h"  // MESHSIM_RETURN_IF_ERROR, MESHSIM_ASSIGN_OR_RETURN

namespace meshsim {

// Returns `status` with `context` prepended to its message ("context: msg"),
// keeping the code. OK stays OK.
absl::Status Annotate(const absl::Status& status, std::string_view context);

// Logs `message` with file and line, then aborts. Used by MESHSIM_CHECK.
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition, std::string_view message);

}  // namespace meshsim

#define MESHSIM_CHECK(condition, message)                                \
  do {                                                                   \
    if (!(condition)) [[unlikely]]                                       \
      ::meshsim::CheckFailed(__FILE__, __LINE__, #condition, (message)); \
  } while (false)
