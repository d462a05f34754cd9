// Small pieces the bench ipc mechanisms share: errno as a status, waiting
// on a file descriptor, and the rendezvous pipe on which a peer process
// tells the bench the endpoint it serves on.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/time/clock.h"

namespace meshsim::bench {

absl::Status Errno(std::string_view what);
int ToMillis(Duration timeout);
// Waits until `fd` is readable (or writable): POLLIN or POLLOUT.
absl::Status WaitFd(int fd, short events, Duration timeout);
void CloseFd(int& fd);

// A pipe made before the fork: the server Tell()s its endpoint once it is
// bound, the client Hear()s it (10 s at most).
class Rendezvous {
 public:
  Rendezvous() = default;
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;
  ~Rendezvous();
  absl::Status Make();
  absl::Status Tell(const std::string& endpoint);
  absl::StatusOr<std::string> Hear();

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace meshsim::bench
