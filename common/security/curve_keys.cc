#include "common/security/curve_keys.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "common/status/status.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"
#include "zmq.h"

namespace meshsim::security {
namespace {

namespace fs = std::filesystem;

// A certificate is a few hundred bytes; anything past this is not one.
constexpr size_t kMaxCertificateBytes = 64 << 10;

struct RoleList {
  const char* subdir;
  Role role;
};
constexpr RoleList kRoleLists[] = {
    {"viewers", Role::kViewer}, {"nodes", Role::kNode}, {"admins", Role::kAdmin}};

bool IsZ85Key(const std::string& key) {
  if (key.size() != kZ85KeyLength) return false;
  uint8_t decoded[32];
  return zmq_z85_decode(decoded, key.c_str()) != nullptr;
}

absl::Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return absl::FailedPreconditionError(StrCat(path, ": ", std::strerror(errno)));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced)
    return absl::UnavailableError(StrCat(path, ": cannot write: ", std::strerror(errno)));
  return absl::OkStatus();
}

std::string Header(bool secret) {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", std::gmtime(&now));
  return secret ? StrCat("#   ****  Generated on ", when, " UTC by meshsim keygen  ****\n",
                         "#   ZeroMQ CURVE **Secret** Certificate\n",
                         "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n")
                : StrCat("#   ****  Generated on ", when, " UTC by meshsim keygen  ****\n",
                         "#   ZeroMQ CURVE Public Certificate\n",
                         "#   Exchange securely, or use a secure mechanism to verify the contents\n",
                         "#   of this file after exchange.\n\n");
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kNode:
      return "node";
    case Role::kAdmin:
      return "admin";
    case Role::kCoordinator:
      return "coordinator";
  }
  return "unknown";
}

bool Allows(Role have, Role need) { return have == need || (have == Role::kAdmin && need == Role::kViewer); }

absl::StatusOr<KeyPair> GenerateKeyPair() {
  char public_key[kZ85KeyLength + 1];
  char secret_key[kZ85KeyLength + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return absl::UnavailableError(StrCat("cannot make a CURVE key pair: ", zmq_strerror(zmq_errno()),
                                         " (is libzmq built with libsodium?)"));
  }
  return KeyPair{public_key, secret_key};
}

absl::Status WriteCertificate(const std::string& dir, const std::string& name, const KeyPair& pair,
                              std::string_view role) {
  const std::string base = (fs::path(dir) / name).string();
  const std::string metadata = StrCat("metadata\n    name = \"", name, "\"\n    role = \"", role, "\"\n");
  const std::string public_part = StrCat("curve\n    public-key = \"", pair.public_key, "\"\n");
  // The secret first: a public key without its secret is of no use to anyone.
  if (pair.secret_key.empty())
    return WriteFile(base + ".key", StrCat(Header(false), metadata, public_part), 0644);
  if (auto status = WriteFile(
          base + ".key_secret",
          StrCat(Header(true), metadata, public_part, "    secret-key = \"", pair.secret_key, "\"\n"), 0600);
      !status.ok()) {
    return status;
  }
  return WriteFile(base + ".key", StrCat(Header(false), metadata, public_part), 0644);
}

absl::StatusOr<KeyPair> LoadCertificate(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(StrCat(path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(StrCat(path, ": not a regular file"));
  if (static_cast<size_t>(st.st_size) > kMaxCertificateBytes) {
    return absl::InvalidArgumentError(
        StrCat(path, ": ", st.st_size, " bytes is too large for a certificate"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(st.st_size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (!in) return absl::UnavailableError(StrCat(path, ": cannot read"));

  static const std::regex kLine(R"re(^\s*(public|secret)-key\s*=\s*"([^"]*)"\s*$)re");
  KeyPair pair;
  std::smatch match;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (!std::regex_match(line, match, kLine)) continue;
    const std::string key = match[2];
    if (!IsZ85Key(key)) {
      return absl::InvalidArgumentError(
          StrCat(path, ": ", match[1].str(), "-key is not a 40-character Z85 key"));
    }
    (match[1] == "public" ? pair.public_key : pair.secret_key) = key;
  }
  if (pair.public_key.empty()) return absl::InvalidArgumentError(StrCat(path, ": no public-key"));
  if (!pair.secret_key.empty() && (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        StrCat(path, ": permissions ", fmt::format("{:04o}", st.st_mode & 07777),
               " are too open: a secret key must be readable by its owner only (chmod "
               "600 ",
               path, ")"));
  }
  return pair;
}

absl::StatusOr<std::unique_ptr<Keyring>> Keyring::Load(const std::string& dir, const std::string& own_name) {
  auto keyring = std::unique_ptr<Keyring>(new Keyring());
  keyring->dir_ = dir;
  keyring->own_name_ = own_name;
  const std::string own_path = (fs::path(dir) / (own_name + ".key_secret")).string();
  auto own = LoadCertificate(own_path);
  if (!own.ok()) return Annotate(own.status(), StrCat("keys: this process's key pair '", own_name, "'"));
  if (own->secret_key.empty()) return absl::InvalidArgumentError(StrCat(own_path, ": no secret-key"));
  keyring->own_ = *own;
  auto coordinator = LoadCertificate((fs::path(dir) / "coordinator.key").string());
  if (!coordinator.ok()) return Annotate(coordinator.status(), "keys: the coordinator's public key");
  keyring->coordinator_public_ = coordinator->public_key;
  std::lock_guard lock(keyring->mutex_);
  keyring->ReloadIfChanged();
  return keyring;
}

void Keyring::ReloadIfChanged() {
  std::vector<struct timespec> mtimes;
  for (const RoleList& list : kRoleLists) {
    struct stat st {};
    const std::string path = (fs::path(dir_) / list.subdir).string();
    mtimes.push_back(::stat(path.c_str(), &st) == 0 ? st.st_mtim : timespec{});
  }
  const bool same = mtimes.size() == list_mtimes_.size() &&
                    std::equal(mtimes.begin(), mtimes.end(), list_mtimes_.begin(), [](auto& a, auto& b) {
                      return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
                    });
  if (same) return;
  list_mtimes_ = std::move(mtimes);
  listed_.clear();
  for (const RoleList& list : kRoleLists) {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(fs::path(dir_) / list.subdir, error)) {
      if (entry.path().extension() != ".key") continue;
      auto certificate = LoadCertificate(entry.path().string());
      if (!certificate.ok()) {
        spdlog::warn("keys: skipping {}: {}", entry.path().string(), certificate.status().message());
        continue;
      }
      auto& slot = listed_[certificate->public_key];
      // kRoleLists runs from the weakest role to the strongest.
      slot = {list.role, entry.path().stem().string()};
    }
  }
  spdlog::debug("keys: {} listed public keys in {}", listed_.size(), dir_);
}

std::optional<Role> Keyring::RoleOf(const std::string& public_key) {
  if (public_key == coordinator_public_) return Role::kCoordinator;
  std::lock_guard lock(mutex_);
  ReloadIfChanged();
  auto it = listed_.find(public_key);
  if (it == listed_.end()) return std::nullopt;
  return it->second.first;
}

std::string Keyring::NameOf(const std::string& public_key) {
  if (public_key == coordinator_public_) return "coordinator";
  std::lock_guard lock(mutex_);
  auto it = listed_.find(public_key);
  return it == listed_.end() ? StrCat("unlisted key ", public_key.substr(0, 8), "...") : it->second.second;
}

}  // namespace meshsim::security
