// A POSIX shared-memory segment mapped into this process: a move-only handle
// that unmaps on destruction and, if it owns the name, unlinks it too.
//
// Names: every meshsim segment is "/meshsim.<pid>.<what>", where <pid> is
// the creating process, so a sweep can find segments whose creator died.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace meshsim::transport::shm {

class ShmSegment {
 public:
  // Creates a new segment of `bytes`, mode 0600, zero-filled. ALREADY_EXISTS
  // if the name is taken. The handle owns the name.
  [[nodiscard]] static absl::StatusOr<ShmSegment> Create(const std::string& name, size_t bytes);
  // Maps an existing segment read-write. NOT_FOUND if there is none,
  // UNAVAILABLE if its creator has not sized it yet.
  [[nodiscard]] static absl::StatusOr<ShmSegment> Open(const std::string& name);

  ShmSegment(ShmSegment&& other) noexcept;
  ShmSegment& operator=(ShmSegment&& other) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment();

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

  // Removes the name now (the mapping stays valid). Idempotent.
  void Unlink();
  // Removes a segment name this process may not have mapped; no error if
  // it is already gone.
  static void UnlinkName(const std::string& name);

 private:
  ShmSegment(std::string name, std::byte* data, size_t size, bool owns_name)
      : name_(std::move(name)), data_(data), size_(size), owns_name_(owns_name) {}
  void Release();

  std::string name_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool owns_name_ = false;
};

// "/meshsim.<this pid>.<what>".
std::string SegmentName(const std::string& what);

// Unlinks every /dev/shm/meshsim.<pid>.* segment whose <pid> is not a live
// process. Returns how many it removed.
int SweepStaleSegments();

// Whether a segment of that name exists (for tests and diagnostics).
bool SegmentExists(const std::string& name);

}  // namespace meshsim::transport::shm
