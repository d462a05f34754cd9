// The coordinator's durable state (docs/durability.md): an SQLite database in the
// state directory holding every job the coordinator keeps (as its JobInfo:
// scenario, state history, restarts, checkpoints, result) and the id
// counters, so a coordinator killed at any point and started again on the
// same directory finds everything it had acknowledged.
//
// Every write is one transaction committed with synchronous=FULL in WAL
// mode: once a call returns OK, the change survives a crash of the process
// or the machine. A directory is used by one coordinator at a time (an
// exclusive lock on <dir>/LOCK).
//
// Thread-safety: none; the coordinator calls it under its own mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/meshsim.pb.h"

struct sqlite3;
struct sqlite3_stmt;

namespace meshsim::coordinator {

class JobStore {
 public:
  // Opens (creating) <state_dir>/meshsim.db, creating the directory too.
  // FAILED_PRECONDITION, naming the directory, when it cannot be created,
  // is not writable, or another coordinator holds it; DATA_LOSS when the
  // database is damaged.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& state_dir);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts or replaces the job with this id.
  [[nodiscard]] absl::Status SaveJob(const v1::JobInfo& job);
  [[nodiscard]] absl::Status DeleteJob(uint64_t job_id);
  // Every stored job, in id order.
  [[nodiscard]] absl::StatusOr<std::vector<v1::JobInfo>> LoadJobs();

  [[nodiscard]] absl::Status SaveCounter(std::string_view name, uint64_t value);
  // `fallback` when the counter was never saved.
  [[nodiscard]] absl::StatusOr<uint64_t> LoadCounter(std::string_view name, uint64_t fallback);

  const std::string& directory() const { return directory_; }
  // Bytes of the database and its write-ahead log on disk.
  uint64_t size_bytes() const;

 private:
  JobStore(std::string directory, int lock_fd) : directory_(std::move(directory)), lock_fd_(lock_fd) {}
  absl::Status Exec(const char* sql);
  absl::Status Error(std::string_view what) const;

  std::string directory_;
  int lock_fd_ = -1;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* save_job_ = nullptr;
  sqlite3_stmt* delete_job_ = nullptr;
  sqlite3_stmt* save_counter_ = nullptr;
};

// Creates `directory` (and its parents) and checks a file can be created,
// written and synced in it. FAILED_PRECONDITION naming the directory and
// the reason otherwise.
[[nodiscard]] absl::Status EnsureWritableDirectory(const std::string& directory);

}  // namespace meshsim::coordinator
