// `meshsim keygen DIR`: a new cluster's CURVE keys, or one more (--name,
// --role). docs/security.md.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands/commands.h"
#include "cli/output.h"
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

struct KeygenOptions {
  std::string dir;
  std::string name;
  std::string role = "node";
  bool if_missing = false;  // a new set only where the directory has none (first start)
};

int Keygen(const KeygenOptions& options) {
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

}  // namespace

Command AddKeygenCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<KeygenOptions>();
  CLI::App* app =
      parent.add_subcommand("keygen", "Create CURVE keys: a new cluster's, or one more with --name");
  app->add_option("dir", options->dir, "Key directory (created if missing)")->required();
  app->add_option("--name", options->name, "Add one key pair of this name (default: a whole new set)");
  app->add_option("--role", options->role, "The added key's role: node, admin or viewer")
      ->default_val("node");
  app->add_flag("--if-missing", options->if_missing,
                "Do nothing when the directory has a coordinator key already (a deployment's first start)");
  return {.app = app, .run = [options](const GlobalOptions&) { return Keygen(*options); }};
}

}  // namespace meshsim::cli
