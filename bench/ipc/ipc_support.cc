#include "bench/ipc/ipc_support.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::bench {

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(StrCat(what, ": ", strerror(errno)));
}

int ToMillis(Duration timeout) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
}

absl::Status WaitFd(int fd, short events, Duration timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int ready = poll(&p, 1, ToMillis(timeout));
    if (ready > 0) return absl::OkStatus();
    if (ready == 0) return absl::DeadlineExceededError("peer did not answer in time");
    if (errno != EINTR) return Errno("poll");
  }
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

Rendezvous::~Rendezvous() {
  CloseFd(fds_[0]);
  CloseFd(fds_[1]);
}

absl::Status Rendezvous::Make() { return pipe2(fds_, O_CLOEXEC) == 0 ? absl::OkStatus() : Errno("pipe2"); }

absl::Status Rendezvous::Tell(const std::string& endpoint) {
  const std::string line = endpoint + "\n";
  return write(fds_[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? absl::OkStatus()
                                                                                       : Errno("write");
}

absl::StatusOr<std::string> Rendezvous::Hear() {
  std::string endpoint;
  char c;
  for (;;) {
    MESHSIM_RETURN_IF_ERROR(WaitFd(fds_[0], POLLIN, std::chrono::seconds(10)));
    if (read(fds_[0], &c, 1) != 1) return absl::UnavailableError("peer exited before it was ready");
    if (c == '\n') return endpoint;
    endpoint.push_back(c);
  }
}

}  // namespace meshsim::bench
