// CURVE keys (ZeroMQ's elliptic-curve security, RFC 26) as files, and the
// key directory a cluster shares (docs/security.md).
//
// A certificate is a zcert-style text file, as ZeroMQ users know them:
// NAME.key holds the public key, NAME.key_secret the public and the secret
// key, both Z85. Secret files must not be readable by group or others (as
// ssh insists for private keys); Load refuses them otherwise.
//
// The key directory:
//   coordinator.key                 the coordinator's public key (everyone)
//   <name>.key, <name>.key_secret   a process's own pair (coordinator, node,
//                                   admin, viewer, or any name keygen made)
//   nodes/*.key                     public keys that may act as nodes
//   admins/*.key                    ... that may submit and cancel jobs
//   viewers/*.key                   ... that may read status, nodes, results
// Removing a public key from its list revokes it: the lists are read again
// whenever one of their directories changes.
#pragma once

#include <sys/stat.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace meshsim::security {

inline constexpr size_t kZ85KeyLength = 40;

struct KeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85; empty for a public-only certificate
};

// What a key may do. Admins may also do what viewers may.
enum class Role { kViewer, kNode, kAdmin, kCoordinator };
std::string_view RoleName(Role role);
bool Allows(Role have, Role need);

// A fresh pair from libsodium (through zmq_curve_keypair).
[[nodiscard]] absl::StatusOr<KeyPair> GenerateKeyPair();

// Writes NAME.key (0644) and, when the pair has a secret key,
// NAME.key_secret (0600) into `dir`; refuses to overwrite existing files.
[[nodiscard]] absl::Status WriteCertificate(const std::string& dir, const std::string& name,
                                            const KeyPair& pair, std::string_view role);

// Reads a certificate file: the public key, and the secret key if the file
// has one (then its mode must be 0600 or stricter).
[[nodiscard]] absl::StatusOr<KeyPair> LoadCertificate(const std::string& path);

// The key directory of one process: its own pair, the coordinator's public
// key, and the role lists. Thread-safe.
class Keyring {
 public:
  // `own_name` picks DIR/<own_name>.key_secret.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Keyring>> Load(const std::string& dir,
                                                                     const std::string& own_name);

  const std::string& dir() const { return dir_; }
  const std::string& own_name() const { return own_name_; }
  const KeyPair& own() const { return own_; }
  const std::string& coordinator_public_key() const { return coordinator_public_; }

  // The role the lists give `public_key` (Z85), or nullopt when it is in
  // none. The coordinator's own key has the coordinator role. A key in
  // several lists gets the strongest.
  std::optional<Role> RoleOf(const std::string& public_key);
  // The file name (without .key) a public key was listed under, for logs.
  std::string NameOf(const std::string& public_key);

 private:
  Keyring() = default;
  void ReloadIfChanged();  // with mutex_ held

  std::string dir_;
  std::string own_name_;
  KeyPair own_;
  std::string coordinator_public_;

  std::mutex mutex_;
  std::map<std::string, std::pair<Role, std::string>> listed_;  // key -> (role, name); guarded by mutex_
  std::vector<struct timespec> list_mtimes_;                    // guarded by mutex_
};

}  // namespace meshsim::security
