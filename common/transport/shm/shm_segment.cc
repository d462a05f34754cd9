#include "common/transport/shm/shm_segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::transport::shm {
namespace {

constexpr char kPrefix[] = "meshsim.";

absl::Status Errno(std::string_view what, const std::string& name) {
  const int error = errno;
  std::string message = StrCat(what, " ", name, ": ", std::strerror(error));
  if (error == ENOENT) return absl::NotFoundError(message);
  if (error == EEXIST) return absl::AlreadyExistsError(message);
  if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

// Whether `pid` can still clean up after itself: alive and not a zombie.
bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  // The state follows the command name, which is in parentheses.
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

}  // namespace

std::string SegmentName(const std::string& what) { return StrCat("/", kPrefix, getpid(), ".", what); }

absl::StatusOr<ShmSegment> ShmSegment::Create(const std::string& name, size_t bytes) {
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("shm_open (create)", name);
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    auto status = Errno("ftruncate", name);
    close(fd);
    shm_unlink(name.c_str());
    return status;
  }
  // Reserve the pages now: on a full /dev/shm the creator gets ENOSPC here
  // instead of a SIGBUS at the first write into a page the tmpfs cannot give.
  if (const int error = posix_fallocate(fd, 0, static_cast<off_t>(bytes)); error != 0) {
    errno = error;
    auto status = Errno("posix_fallocate (is /dev/shm full?)", name);
    close(fd);
    shm_unlink(name.c_str());
    return status;
  }
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (data == MAP_FAILED) {
    auto status = Errno("mmap", name);
    shm_unlink(name.c_str());
    return status;
  }
  return ShmSegment(name, static_cast<std::byte*>(data), bytes, /*owns_name=*/true);
}

absl::StatusOr<ShmSegment> ShmSegment::Open(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return Errno("shm_open", name);
  struct stat info {};
  if (fstat(fd, &info) != 0 || info.st_size <= 0) {
    close(fd);
    // Between its creator's shm_open and ftruncate a segment has no size.
    return absl::UnavailableError(StrCat("shm segment ", name, " is not sized yet"));
  }
  // Only a segment this user made and nobody else can open is a peer's:
  // anything else in /dev/shm under that name is refused, not trusted.
  if (info.st_uid != geteuid() || (info.st_mode & 077) != 0) {
    close(fd);
    return absl::PermissionDeniedError(StrCat("shm segment ", name, " belongs to uid ", info.st_uid,
                                              " with mode ", fmt::format("{:04o}", info.st_mode & 07777),
                                              ": not a segment of this user's nodes (0600)"));
  }
  const auto bytes = static_cast<size_t>(info.st_size);
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (data == MAP_FAILED) return Errno("mmap", name);
  return ShmSegment(name, static_cast<std::byte*>(data), bytes, /*owns_name=*/false);
}

ShmSegment::ShmSegment(ShmSegment&& other) noexcept
    : name_(std::move(other.name_)), data_(other.data_), size_(other.size_), owns_name_(other.owns_name_) {
  other.data_ = nullptr;
  other.owns_name_ = false;
}

ShmSegment& ShmSegment::operator=(ShmSegment&& other) noexcept {
  if (this != &other) {
    Release();
    name_ = std::move(other.name_);
    data_ = other.data_;
    size_ = other.size_;
    owns_name_ = other.owns_name_;
    other.data_ = nullptr;
    other.owns_name_ = false;
  }
  return *this;
}

ShmSegment::~ShmSegment() { Release(); }

void ShmSegment::UnlinkName(const std::string& name) { shm_unlink(name.c_str()); }

void ShmSegment::Unlink() {
  if (!name_.empty()) shm_unlink(name_.c_str());
  owns_name_ = false;
}

void ShmSegment::Release() {
  if (owns_name_) Unlink();
  if (data_ != nullptr) munmap(data_, size_);
  data_ = nullptr;
}

bool SegmentExists(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

int SweepStaleSegments() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return 0;
  int removed = 0;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (!name.starts_with(kPrefix)) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + sizeof(kPrefix) - 1));
    if (pid <= 0 || !ProcessAlive(pid)) {
      if (shm_unlink(("/" + name).c_str()) == 0) {
        ++removed;
        spdlog::info("removed stale shared-memory segment {} (its process {} is gone)", name, pid);
      }
    }
  }
  closedir(dir);
  return removed;
}

}  // namespace meshsim::transport::shm
