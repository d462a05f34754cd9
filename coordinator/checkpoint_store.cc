#include "coordinator/checkpoint_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/checkpoint/checkpoint_codec.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::coordinator {
namespace {

namespace fs = std::filesystem;

constexpr size_t kVerifyPieceBytes = 1 << 20;
constexpr uint64_t kWritebackBytes = 16 << 20;

absl::Status ErrnoStatus(std::string_view what, int error) {
  const std::string message = StrCat(what, ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT) return absl::ResourceExhaustedError(message);
  if (error == EROFS || error == EACCES || error == EPERM) return absl::FailedPreconditionError(message);
  return absl::InternalError(message);
}

absl::Status SyncDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(StrCat("open ", path), errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoStatus(StrCat("fsync ", path), error);
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(StrCat("write ", path), errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads the part at `path` in pieces through a verifier.
absl::StatusOr<checkpoint::PartHeader> VerifyFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? absl::NotFoundError(StrCat(path, " is missing"))
                           : ErrnoStatus(StrCat("open ", path), errno);
  }
  checkpoint::PartVerifier verifier;
  std::vector<std::byte> buffer(kVerifyPieceBytes);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoStatus(StrCat("read ", path), error);
    }
    if (n == 0) break;
    verifier.Feed(std::span(buffer).first(static_cast<size_t>(n)));
  }
  ::close(fd);
  auto header = verifier.Finish();
  if (!header.ok()) return Annotate(header.status(), path);
  return header;
}

// Starts writing back what is written but not yet on its way to the disk,
// without waiting, so the fsync at the end of a large part does not find
// gigabytes dirty. Best effort: a failure shows at that fsync.
void StartWriteback(int fd, uint64_t from, uint64_t to) {
  ::sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(to - from), SYNC_FILE_RANGE_WRITE);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& directory) {
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) {
    return absl::FailedPreconditionError(StrCat("checkpoint directory ", directory, ": ", error.message()));
  }
  // Parts that were being received when a coordinator died: never whole.
  for (auto it = fs::recursive_directory_iterator(directory, error); !error && it != fs::end(it);
       it.increment(error)) {
    if (it->is_regular_file() && it->path().extension() == ".tmp") fs::remove(it->path(), error);
  }
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(directory));
}

CheckpointStore::~CheckpointStore() {
  for (auto& [key, upload] : uploads_) ::close(upload.fd);
}

std::string CheckpointStore::JobDir(uint64_t job_id) const { return StrCat(directory_, "/job-", job_id); }

std::string CheckpointStore::CheckpointDir(const CheckpointKey& key) const {
  return StrCat(JobDir(key.job_id), "/w", key.window, "-a", key.attempt);
}

std::string CheckpointStore::PartPath(const CheckpointKey& key, uint32_t rank) const {
  return StrCat(CheckpointDir(key), "/part-", rank);
}

absl::StatusOr<uint64_t> CheckpointStore::PutChunk(const CheckpointKey& key, uint32_t rank, uint64_t offset,
                                                   std::string_view data, bool last) {
  std::lock_guard lock(mutex_);
  const std::string path = PartPath(key, rank);
  const std::string tmp = path + ".tmp";
  auto id = std::make_tuple(key, rank);
  auto it = uploads_.find(id);
  if (offset == 0) {
    if (it != uploads_.end()) {
      ::close(it->second.fd);
      uploads_.erase(it);
    }
    std::error_code error;
    fs::create_directories(CheckpointDir(key), error);
    if (error) return ErrnoStatus(StrCat("create ", CheckpointDir(key)), error.value());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(StrCat("create ", tmp), errno);
    it = uploads_.try_emplace(id).first;
    it->second.fd = fd;
  }
  if (it == uploads_.end() || it->second.received != offset) {
    return absl::FailedPreconditionError(StrCat("checkpoint part ", path, ": chunk at ", offset,
                                                ", expected ",
                                                it == uploads_.end() ? 0 : it->second.received));
  }
  Upload& upload = it->second;
  auto fail = [&](absl::Status status) {
    ::close(upload.fd);
    ::unlink(tmp.c_str());
    uploads_.erase(it);
    return status;
  };
  if (absl::Status status = WriteAll(upload.fd, data, tmp); !status.ok()) return fail(status);
  upload.verifier.Feed(std::as_bytes(std::span(data)));
  upload.received += data.size();
  if (upload.received - upload.written_back >= kWritebackBytes) {
    StartWriteback(upload.fd, upload.written_back, upload.received);
    upload.written_back = upload.received;
  }
  if (!last) return uint64_t{0};
  // Checked as it arrived, before it is renamed into place: a part that
  // does not hold what its writer sealed never counts. (Damage on the
  // disk itself is caught by Verify before a restore.)
  if (auto header = upload.verifier.Finish(); !header.ok()) return fail(Annotate(header.status(), path));
  if (::fsync(upload.fd) != 0) return fail(ErrnoStatus(StrCat("fsync ", tmp), errno));
  ::close(upload.fd);
  upload.fd = -1;
  const uint64_t size = upload.received;
  uploads_.erase(it);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(StrCat("rename ", tmp), error);
  }
  MESHSIM_RETURN_IF_ERROR(SyncDirectory(CheckpointDir(key)));
  return size;
}

absl::StatusOr<std::string> CheckpointStore::ReadChunk(const CheckpointKey& key, uint32_t rank,
                                                       uint64_t offset, uint32_t max_bytes, uint64_t* total) {
  const std::string path = PartPath(key, rank);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? absl::NotFoundError(StrCat("checkpoint part ", path, " is not stored"))
                           : ErrnoStatus(StrCat("open ", path), errno);
  }
  struct stat st {};
  ::fstat(fd, &st);
  *total = static_cast<uint64_t>(st.st_size);
  std::string out(offset < *total ? std::min<uint64_t>(max_bytes, *total - offset) : 0, '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      ::close(fd);
      return ErrnoStatus(StrCat("read ", path), error);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

absl::Status CheckpointStore::Verify(const CheckpointKey& key, uint32_t parts) {
  for (uint32_t rank = 0; rank < parts; ++rank) {
    const std::string path = PartPath(key, rank);
    MESHSIM_ASSIGN_OR_RETURN(const checkpoint::PartHeader header, VerifyFile(path));
    if (header.job_id != key.job_id || header.window != key.window || header.attempt != key.attempt ||
        header.rank != rank || header.ranks != parts) {
      return absl::DataLossError(StrCat(path, ": header names job ", header.job_id, " window ", header.window,
                                        " attempt ", header.attempt, " rank ", header.rank, " of ",
                                        header.ranks));
    }
  }
  return absl::OkStatus();
}

void CheckpointStore::Remove(const CheckpointKey& key) {
  std::error_code error;
  fs::remove_all(CheckpointDir(key), error);
}

void CheckpointStore::RemoveJob(uint64_t job_id) {
  std::error_code error;
  fs::remove_all(JobDir(job_id), error);
}

void CheckpointStore::RemoveAllBut(uint64_t job_id, const std::vector<CheckpointKey>& keep) {
  std::error_code error;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(JobDir(job_id), error)) {
    bool kept = false;
    for (const auto& key : keep) kept = kept || entry.path() == fs::path(CheckpointDir(key));
    if (!kept) doomed.push_back(entry.path());
  }
  for (const auto& path : doomed) fs::remove_all(path, error);
}

uint64_t CheckpointStore::size_bytes() const {
  uint64_t total = 0;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(directory_, error); !error && it != fs::end(it);
       it.increment(error)) {
    if (it->is_regular_file(error)) total += it->file_size(error);
  }
  return total;
}

}  // namespace meshsim::coordinator
