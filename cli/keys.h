// How every command finds its CURVE keys (--keys) and decides whether it
// may serve without them (--insecure). docs/security.md.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "cli/command.h"
#include "common/security/curve_keys.h"

namespace meshsim::cli {

// The keyring of --keys for this process (default_identity "client" picks
// admin or viewer), or null without --keys.
[[nodiscard]] absl::StatusOr<std::shared_ptr<security::Keyring>> LoadKeys(const GlobalOptions& global,
                                                                          std::string_view default_identity);
// FAILED_PRECONDITION when serving `what` on `host` (or `endpoint`) would be
// open to the network without keys and --insecure was not given.
[[nodiscard]] absl::Status CheckBindIsSafe(const GlobalOptions& global, bool have_keys, std::string_view host,
                                           std::string_view what);
[[nodiscard]] absl::Status CheckEndpointIsSafe(const GlobalOptions& global, bool have_keys,
                                               std::string_view endpoint, std::string_view what);

}  // namespace meshsim::cli
