// `meshsim keygen`, and how every command finds its keys (--keys) and
// decides whether it may serve without them (--insecure). docs/security.md.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/net/endpoint.h"
#include "common/security/curve_keys.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::cli {
namespace {

namespace fs = std::filesystem;

struct RoleDir {
  std::string_view role;
  std::string_view subdir;  // the list a key of this role goes in
};
constexpr RoleDir kRoleDirs[] = {{"node", "nodes"}, {"admin", "admins"}, {"viewer", "viewers"}};

absl::Status MakeDir(const fs::path& dir, fs::perms perms) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return absl::FailedPreconditionError(StrCat(dir.string(), ": ", error.message()));
  fs::permissions(dir, perms, error);
  return absl::OkStatus();
}

// Generates NAME's pair in `dir` and lists its public key under its role.
absl::Status AddKey(const fs::path& dir, const std::string& name, std::string_view role) {
  MESHSIM_ASSIGN_OR_RETURN(security::KeyPair pair, security::GenerateKeyPair());
  MESHSIM_RETURN_IF_ERROR(security::WriteCertificate(dir.string(), name, pair, role));
  for (const RoleDir& list : kRoleDirs) {
    if (list.role != role) continue;
    const fs::path subdir = dir / list.subdir;
    MESHSIM_RETURN_IF_ERROR(MakeDir(subdir, fs::perms::owner_all | fs::perms::group_read |
                                                fs::perms::group_exec | fs::perms::others_read |
                                                fs::perms::others_exec));
    MESHSIM_RETURN_IF_ERROR(
        security::WriteCertificate(subdir.string(), name, security::KeyPair{pair.public_key, {}}, role));
  }
  std::printf("%s: %s key %s\n", (dir / (name + ".key_secret")).c_str(), std::string(role).c_str(),
              pair.public_key.c_str());
  return absl::OkStatus();
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

int Keygen(const GlobalOptions&, const KeygenOptions& options) {
  const fs::path dir(options.dir);
  if (auto status = MakeDir(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
      !status.ok()) {
    return FailWith(status);
  }
  if (!options.name.empty()) {
    const bool known = options.role == "node" || options.role == "admin" || options.role == "viewer";
    if (!known) return FailWith(absl::InvalidArgumentError("--role: one of node, admin, viewer"));
    if (auto status = AddKey(dir, options.name, options.role); !status.ok()) return FailWith(status);
    return kExitOk;
  }
  if (options.if_missing && fs::exists(dir / "coordinator.key_secret")) {
    std::printf("%s: keys present, nothing to do\n", options.dir.c_str());
    return kExitOk;
  }
  // A new cluster: the coordinator's pair and one of each role.
  for (const auto& [name, role] : {std::pair{"coordinator", "coordinator"},
                                   {"node", "node"},
                                   {"admin", "admin"},
                                   {"viewer", "viewer"}}) {
    if (auto status = AddKey(dir, name, role); !status.ok()) return FailWith(status);
  }
  return kExitOk;
}

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
