// Returning errors in model code: the functions of the model API return
// absl::Status or absl::StatusOr<T> (the gRPC codes; a model's error fails
// its job with the message), and these macros pass an error on.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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
