// Error handling conventions: fallible calls return absl::Status or
// absl::StatusOr<T>; the codes are the gRPC codes so an error crosses an RPC
// unchanged. Broken invariants abort through MESHSIM_CHECK.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// Evaluates an absl::Status expression and returns it from the enclosing
// function when it is not OK.
#define MESHSIM_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status meshsim_status_ = (expr);           \
    if (!meshsim_status_.ok()) return meshsim_status_; \
  } while (false)

#define MESHSIM_CONCAT_INNER_(a, b) a##b
#define MESHSIM_CONCAT_(a, b) MESHSIM_CONCAT_INNER_(a, b)

// MESHSIM_ASSIGN_OR_RETURN(auto x, Fallible()); returns the error if any.
#define MESHSIM_ASSIGN_OR_RETURN(lhs, expr) \
  MESHSIM_ASSIGN_OR_RETURN_IMPL_(MESHSIM_CONCAT_(meshsim_or_, __LINE__), lhs, expr)
#define MESHSIM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()
