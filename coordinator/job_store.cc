#include "coordinator/job_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::coordinator {
namespace {

constexpr int kSchemaVersion = 1;

std::string Errno() { return std::strerror(errno); }

// Finalizes a prepared statement on every path.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

absl::Status EnsureWritableDirectory(const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return absl::FailedPreconditionError(
        StrCat("state directory ", directory, " cannot be created: ", error.message()));
  }
  const std::string probe = directory + "/.write-test";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        StrCat("state directory ", directory, " is not writable: ", Errno()));
  }
  const bool ok = ::write(fd, "ok", 2) == 2 && ::fsync(fd) == 0;
  const std::string why = ok ? "" : Errno();
  ::close(fd);
  ::unlink(probe.c_str());
  if (!ok)
    return absl::FailedPreconditionError(StrCat("state directory ", directory, " is not writable: ", why));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& state_dir) {
  MESHSIM_RETURN_IF_ERROR(EnsureWritableDirectory(state_dir));
  const std::string lock_path = state_dir + "/LOCK";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return absl::FailedPreconditionError(
        StrCat("state directory ", state_dir, ": cannot open LOCK: ", Errno()));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return absl::FailedPreconditionError(StrCat(
        "state directory ", state_dir, " is in use by another coordinator (", lock_path, " is locked)"));
  }
  auto store = std::unique_ptr<JobStore>(new JobStore(state_dir, lock_fd));
  const std::string path = state_dir + "/meshsim.db";
  if (sqlite3_open_v2(path.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return store->Error(StrCat("cannot open ", path));
  }
  sqlite3_busy_timeout(store->db_, 1000);
  MESHSIM_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  MESHSIM_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=FULL"));
  // A damaged file is found now, not at the first write.
  Statement check;
  if (sqlite3_prepare_v2(store->db_, "PRAGMA quick_check", -1, &check.stmt, nullptr) != SQLITE_OK ||
      sqlite3_step(check.stmt) != SQLITE_ROW ||
      std::strcmp(reinterpret_cast<const char*>(sqlite3_column_text(check.stmt, 0)), "ok") != 0) {
    return absl::DataLossError(StrCat("state database ", path, " is damaged: ", sqlite3_errmsg(store->db_)));
  }
  MESHSIM_RETURN_IF_ERROR(
      store->Exec("CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                  "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, state INTEGER NOT NULL, info BLOB "
                  "NOT NULL);"));
  Statement version;
  int schema = 0;
  if (sqlite3_prepare_v2(store->db_, "PRAGMA user_version", -1, &version.stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(version.stmt) == SQLITE_ROW) {
    schema = sqlite3_column_int(version.stmt, 0);
  }
  if (schema > kSchemaVersion) {
    return absl::FailedPreconditionError(StrCat("state database ", path, " has schema version ", schema,
                                                ", newer than this meshsim's ", kSchemaVersion));
  }
  MESHSIM_RETURN_IF_ERROR(store->Exec(StrCat("PRAGMA user_version=", kSchemaVersion).c_str()));
  auto prepare = [&](const char* sql, sqlite3_stmt** out) {
    return sqlite3_prepare_v3(store->db_, sql, -1, SQLITE_PREPARE_PERSISTENT, out, nullptr) == SQLITE_OK
               ? absl::OkStatus()
               : store->Error(StrCat("cannot prepare '", sql, "'"));
  };
  MESHSIM_RETURN_IF_ERROR(
      prepare("INSERT OR REPLACE INTO jobs(id, state, info) VALUES(?, ?, ?)", &store->save_job_));
  MESHSIM_RETURN_IF_ERROR(prepare("DELETE FROM jobs WHERE id = ?", &store->delete_job_));
  MESHSIM_RETURN_IF_ERROR(
      prepare("INSERT OR REPLACE INTO counters(name, value) VALUES(?, ?)", &store->save_counter_));
  return store;
}

JobStore::~JobStore() {
  sqlite3_finalize(save_job_);
  sqlite3_finalize(delete_job_);
  sqlite3_finalize(save_counter_);
  if (db_ != nullptr) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

absl::Status JobStore::Error(std::string_view what) const {
  const int code = db_ != nullptr ? sqlite3_errcode(db_) : SQLITE_CANTOPEN;
  const std::string message =
      StrCat("state database in ", directory_, ": ", what, ": ", db_ != nullptr ? sqlite3_errmsg(db_) : "");
  switch (code & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(message);
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return absl::FailedPreconditionError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status JobStore::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return absl::OkStatus();
  sqlite3_free(message);
  return Error(StrCat("'", sql, "' failed"));
}

absl::Status JobStore::SaveJob(const v1::JobInfo& job) {
  const std::string blob = job.SerializeAsString();
  sqlite3_reset(save_job_);
  sqlite3_bind_int64(save_job_, 1, static_cast<sqlite3_int64>(job.job_id()));
  sqlite3_bind_int(save_job_, 2, job.state());
  sqlite3_bind_blob(save_job_, 3, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(save_job_);
  sqlite3_reset(save_job_);
  return rc == SQLITE_DONE ? absl::OkStatus() : Error(StrCat("cannot save job ", job.job_id()));
}

absl::Status JobStore::DeleteJob(uint64_t job_id) {
  sqlite3_reset(delete_job_);
  sqlite3_bind_int64(delete_job_, 1, static_cast<sqlite3_int64>(job_id));
  const int rc = sqlite3_step(delete_job_);
  sqlite3_reset(delete_job_);
  return rc == SQLITE_DONE ? absl::OkStatus() : Error(StrCat("cannot delete job ", job_id));
}

absl::StatusOr<std::vector<v1::JobInfo>> JobStore::LoadJobs() {
  Statement select;
  if (sqlite3_prepare_v2(db_, "SELECT id, info FROM jobs ORDER BY id", -1, &select.stmt, nullptr) !=
      SQLITE_OK) {
    return Error("cannot read jobs");
  }
  std::vector<v1::JobInfo> jobs;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    const auto id = static_cast<uint64_t>(sqlite3_column_int64(select.stmt, 0));
    const void* blob = sqlite3_column_blob(select.stmt, 1);
    const int bytes = sqlite3_column_bytes(select.stmt, 1);
    v1::JobInfo job;
    if (!job.ParseFromArray(blob, bytes) || job.job_id() != id) {
      return absl::DataLossError(StrCat("state database in ", directory_, ": job ", id, " does not parse"));
    }
    jobs.push_back(std::move(job));
  }
  if (rc != SQLITE_DONE) return Error("cannot read jobs");
  return jobs;
}

absl::Status JobStore::SaveCounter(std::string_view name, uint64_t value) {
  sqlite3_reset(save_counter_);
  sqlite3_bind_text(save_counter_, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
  sqlite3_bind_int64(save_counter_, 2, static_cast<sqlite3_int64>(value));
  const int rc = sqlite3_step(save_counter_);
  sqlite3_reset(save_counter_);
  return rc == SQLITE_DONE ? absl::OkStatus() : Error(StrCat("cannot save counter ", name));
}

absl::StatusOr<uint64_t> JobStore::LoadCounter(std::string_view name, uint64_t fallback) {
  Statement select;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM counters WHERE name = ?", -1, &select.stmt, nullptr) !=
      SQLITE_OK) {
    return Error("cannot read counters");
  }
  sqlite3_bind_text(select.stmt, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(select.stmt);
  if (rc == SQLITE_ROW) return static_cast<uint64_t>(sqlite3_column_int64(select.stmt, 0));
  if (rc == SQLITE_DONE) return fallback;
  return Error(StrCat("cannot read counter ", name));
}

uint64_t JobStore::size_bytes() const {
  uint64_t total = 0;
  for (const char* suffix : {"/meshsim.db", "/meshsim.db-wal"}) {
    struct stat st {};
    if (::stat((directory_ + suffix).c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

}  // namespace meshsim::coordinator
