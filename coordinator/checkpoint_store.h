// Where the coordinator keeps checkpoint parts (docs/checkpoints.md):
//   <dir>/job-<id>/w<window>-a<attempt>/part-<rank>
// A part arrives in chunks into part-<rank>.tmp, its checksum computed as
// they come (a part may be gigabytes: it is never held whole nor read
// back), and written back to disk as it goes so the final fsync is short;
// with its last chunk the store checks the checksum, fsyncs, renames it into place
// and fsyncs the directory, so a part that exists under its final name is
// whole. Whether a checkpoint is complete (every rank's part stored) is
// recorded by the coordinator in its database, not here.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_codec.h"

namespace meshsim::coordinator {

struct CheckpointKey {
  uint64_t job_id = 0;
  uint64_t window = 0;
  uint32_t attempt = 0;
  auto operator<=>(const CheckpointKey&) const = default;
};

class CheckpointStore {
 public:
  // Creates the directory; removes leftover temporary files of parts that
  // were being written when a previous coordinator died.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(const std::string& directory);
  ~CheckpointStore();

  // Appends a chunk of `rank`'s part. `offset` must be the bytes received
  // so far (0 starts the part over). With `last`, the part is checked and
  // made durable; returns its size then, 0 before. RESOURCE_EXHAUSTED when
  // the disk is full, FAILED_PRECONDITION when it is read-only or the
  // offset is wrong, DATA_LOSS when the whole part fails its checksum.
  [[nodiscard]] absl::StatusOr<uint64_t> PutChunk(const CheckpointKey& key, uint32_t rank, uint64_t offset,
                                                  std::string_view data, bool last);
  // Reads up to `max_bytes` of a stored part from `offset`; `total` gets its
  // size. NOT_FOUND when the part is not stored.
  [[nodiscard]] absl::StatusOr<std::string> ReadChunk(const CheckpointKey& key, uint32_t rank,
                                                      uint64_t offset, uint32_t max_bytes, uint64_t* total);
  // Reads and checks every part of a checkpoint. DATA_LOSS or NOT_FOUND
  // naming the first bad part.
  [[nodiscard]] absl::Status Verify(const CheckpointKey& key, uint32_t parts);

  void Remove(const CheckpointKey& key);
  void RemoveJob(uint64_t job_id);
  // Removes the job's checkpoint directories other than `keep` (e.g. the
  // incomplete ones a dead coordinator left).
  void RemoveAllBut(uint64_t job_id, const std::vector<CheckpointKey>& keep);
  // Bytes of every stored part.
  uint64_t size_bytes() const;
  const std::string& directory() const { return directory_; }

 private:
  explicit CheckpointStore(std::string directory) : directory_(std::move(directory)) {}
  std::string JobDir(uint64_t job_id) const;
  std::string CheckpointDir(const CheckpointKey& key) const;
  std::string PartPath(const CheckpointKey& key, uint32_t rank) const;

  struct Upload {
    int fd = -1;
    uint64_t received = 0;
    uint64_t written_back = 0;  // bytes handed to the disk's writeback so far
    checkpoint::PartVerifier verifier;
  };
  std::string directory_;
  mutable std::mutex mutex_;
  std::map<std::tuple<CheckpointKey, uint32_t>, Upload> uploads_;  // guarded by mutex_
};

}  // namespace meshsim::coordinator
