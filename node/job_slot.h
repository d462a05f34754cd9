// The one job attempt a node holds at a time, and who may send it frames:
// prepared by the Node service (PrepareJob), started by it (StartJob), run
// by the node's data thread, dropped when the coordinator says so, and
// reported by the coordinator session. Every hand-over between those
// threads goes through here.
//
//   idle --Prepare--> prepared --Start--> started --TakeStarted--> running
//     ^                  |                                            |
//     +------Drop--------+-----------------Finish---------------------+
//
// With keys, the node's data socket admits a job's peers from Prepare
// until the job ends or is dropped (AdmitsDataPeer; docs/security.md).
//
// Thread-safety: every method from any thread (one mutex; the data-peer
// keys under a second, so a handshake never waits behind a job change).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "node/job_runner.h"
#include "proto/meshsim.pb.h"

namespace meshsim::node {

// The held job as a heartbeat tells it: 0 when idle.
struct HeldJob {
  uint64_t job_id = 0;
  uint32_t attempt = 0;
  bool running = false;
  JobProgress progress;  // when running
};

class JobSlot {
 public:
  // The answer given to this job attempt's PrepareJob, if it holds it (a
  // retried call gets the same answer); FAILED_PRECONDITION when another
  // job is held, INVALID_ARGUMENT for job 0.
  [[nodiscard]] absl::StatusOr<std::optional<v1::PrepareJobReply>> CheckPrepare(uint64_t job_id,
                                                                                uint32_t attempt) const;
  // Holds `runner` as prepared; the data socket admits `peer_keys` from
  // now on. FAILED_PRECONDITION when a job was prepared meanwhile.
  [[nodiscard]] absl::Status Prepare(std::unique_ptr<JobRunner> runner, const v1::PrepareJobReply& reply,
                                     std::set<std::string> peer_keys);
  // Installs the mailbox table and connects the links of the prepared
  // attempt, and lets the data thread take it. NOT_FOUND when that attempt
  // is not prepared here; OK again for a retried call.
  [[nodiscard]] absl::Status Start(const v1::StartJobRequest& request);
  // Aborts the attempt, if held (running: its run ends ABORTED).
  // Returns false when it is not held.
  bool Drop(uint64_t job_id, uint32_t attempt, std::string_view why);

  // Data thread: the started runner, waiting up to `wait` while a job is
  // prepared and not yet started; null when none started (or stopping).
  std::unique_ptr<JobRunner> TakeStarted(Duration wait);
  // Data thread: the running job ended; the slot is idle again.
  void Finish(const JobRunner& runner);
  // Data thread, between jobs: hands a frame to the prepared job (a peer
  // that started first sent it). False when none is prepared.
  bool AdoptIfPrepared(std::vector<std::byte>& frame, std::string_view sender);
  bool prepared() const;
  // Counts a frame that arrived for no job.
  void CountStrayFrame() { stray_frames_dropped_.fetch_add(1, std::memory_order_relaxed); }

  HeldJob held() const;
  // Every data frame dropped, whether for a job or for none.
  uint64_t frames_dropped() const;
  bool AdmitsDataPeer(const std::string& key) const;
  // Aborts whatever runs, wakes the data thread; the held job id (0: none).
  uint64_t Stop();

 private:
  void ForgetDataPeers();  // call with mutex_ held

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::unique_ptr<JobRunner> prepared_;  // guarded by mutex_
  v1::PrepareJobReply prepared_reply_;   // guarded by mutex_
  bool started_ = false;                 // guarded by mutex_
  JobRunner* running_ = nullptr;         // guarded by mutex_; owned by the data thread
  uint64_t job_id_ = 0;                  // held attempt, guarded by mutex_
  uint32_t attempt_ = 0;                 // guarded by mutex_
  bool stopping_ = false;                // guarded by mutex_
  uint64_t ended_frames_dropped_ = 0;    // by ended jobs, guarded by mutex_
  // Only the data thread writes it; relaxed reads elsewhere suffice.
  std::atomic<uint64_t> stray_frames_dropped_{0};
  mutable std::mutex data_peers_mutex_;
  std::set<std::string> data_peer_keys_;  // guarded by data_peers_mutex_
};

}  // namespace meshsim::node
