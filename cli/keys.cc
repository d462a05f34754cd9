#include "cli/keys.h"

#include <filesystem>

#include "common/net/endpoint.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::cli {
namespace {

namespace fs = std::filesystem;

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

absl::StatusOr<std::shared_ptr<security::Keyring>> LoadKeys(const GlobalOptions& global,
                                                            std::string_view default_identity) {
  if (global.keys_dir.empty()) return std::shared_ptr<security::Keyring>();
  std::string identity = global.identity;
  if (identity.empty() && default_identity == "client") {
    // A person's commands: as an admin where this directory has the admin
    // pair, else as a viewer.
    identity = fs::exists(fs::path(global.keys_dir) / "admin.key_secret") ? "admin" : "viewer";
  } else if (identity.empty()) {
    identity = default_identity;
  }
  MESHSIM_ASSIGN_OR_RETURN(auto keyring, security::Keyring::Load(global.keys_dir, identity));
  return std::shared_ptr<security::Keyring>(std::move(keyring));
}

absl::Status CheckBindIsSafe(const GlobalOptions& global, bool have_keys, std::string_view host,
                             std::string_view what) {
  if (have_keys || global.insecure || IsLoopbackHost(host)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      StrCat("refusing to serve ", what, " on ", host,
             " without keys: anyone who reaches it could submit jobs, join as a node or send frames. Give "
             "--keys DIR (make one with `meshsim keygen DIR`), or --insecure on a network you trust "
             "(docs/security.md)"));
}

absl::Status CheckEndpointIsSafe(const GlobalOptions& global, bool have_keys, std::string_view endpoint,
                                 std::string_view what) {
  MESHSIM_ASSIGN_OR_RETURN(net::TcpEndpoint parsed, net::ParseTcpEndpoint(endpoint));
  return CheckBindIsSafe(global, have_keys, parsed.host, what);
}

}  // namespace meshsim::cli
