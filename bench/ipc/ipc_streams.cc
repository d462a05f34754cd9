// Byte streams between the bench and its peer: a pipe pair, Unix and TCP
// sockets, each message framed by a 4-byte length.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bench/ipc/ipc_support.h"
#include "bench/ipc/mechanisms.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::bench {
namespace {

// ---- Byte streams: pipes, Unix and TCP sockets --------------------------------
// A 4-byte length before each message makes a byte stream carry messages.
class FdChannel final : public Channel {
 public:
  FdChannel(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  ~FdChannel() override {
    if (write_fd_ != read_fd_) CloseFd(write_fd_);
    CloseFd(read_fd_);
  }

  absl::Status Send(std::span<const std::byte> message) override {
    uint32_t length = static_cast<uint32_t>(message.size());
    iovec parts[2] = {{&length, sizeof(length)}, {const_cast<std::byte*>(message.data()), message.size()}};
    size_t left = sizeof(length) + message.size();
    iovec* part = parts;
    int count = 2;
    while (left > 0) {
      const ssize_t n = writev(write_fd_, part, count);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write");
      }
      left -= static_cast<size_t>(n);
      // Skip what was written, possibly partway into a part.
      size_t done = static_cast<size_t>(n);
      while (count > 0 && done >= part->iov_len) {
        done -= part->iov_len;
        ++part;
        --count;
      }
      if (count > 0) {
        part->iov_base = static_cast<char*>(part->iov_base) + done;
        part->iov_len -= done;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Receive(std::vector<std::byte>* out, Duration timeout) override {
    uint32_t length = 0;
    MESHSIM_RETURN_IF_ERROR(ReadExactly(reinterpret_cast<std::byte*>(&length), sizeof(length), timeout));
    out->resize(length);
    return ReadExactly(out->data(), length, timeout);
  }

 private:
  absl::Status ReadExactly(std::byte* into, size_t bytes, Duration timeout) {
    while (bytes > 0) {
      const ssize_t n = read(read_fd_, into, bytes);
      if (n > 0) {
        into += n;
        bytes -= static_cast<size_t>(n);
      } else if (n == 0) {
        return absl::UnavailableError("peer closed the channel");
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        MESHSIM_RETURN_IF_ERROR(WaitFd(read_fd_, POLLIN, timeout));
      } else if (errno != EINTR) {
        return Errno("read");
      }
    }
    return absl::OkStatus();
  }

  int read_fd_;
  int write_fd_;
};

class PipePair final : public Mechanism {
 public:
  ~PipePair() override {
    for (int* fds : {to_server_, to_client_}) {
      CloseFd(fds[0]);
      CloseFd(fds[1]);
    }
  }
  std::string name() const override { return "pipe pair"; }
  absl::Status Prepare() override {
    if (pipe2(to_server_, O_CLOEXEC) != 0 || pipe2(to_client_, O_CLOEXEC) != 0) return Errno("pipe2");
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenServer() override {
    CloseFd(to_server_[1]);
    CloseFd(to_client_[0]);
    return Take(to_server_[0], to_client_[1]);
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenClient() override {
    CloseFd(to_server_[0]);
    CloseFd(to_client_[1]);
    return Take(to_client_[0], to_server_[1]);
  }

 private:
  static std::unique_ptr<Channel> Take(int& read_fd, int& write_fd) {
    auto channel = std::make_unique<FdChannel>(read_fd, write_fd);
    read_fd = write_fd = -1;  // the channel owns them now
    return channel;
  }
  int to_server_[2] = {-1, -1};
  int to_client_[2] = {-1, -1};
};

// A listening stream socket made before the fork; the peer accepts on it,
// the bench connects. `unix_path` empty: TCP on 127.0.0.1.
class StreamSocket final : public Mechanism {
 public:
  StreamSocket(std::string name, std::string unix_path)
      : name_(std::move(name)), unix_path_(std::move(unix_path)) {}
  ~StreamSocket() override {
    CloseFd(listener_);
    if (!unix_path_.empty() && owner_) unlink(unix_path_.c_str());
  }
  std::string name() const override { return name_; }

  absl::Status Prepare() override {
    listener_ = socket(Family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) return Errno("socket");
    if (unix_path_.empty()) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return Errno("bind");
      socklen_t length = sizeof(address);
      getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
      port_ = ntohs(address.sin_port);
    } else {
      unlink(unix_path_.c_str());
      sockaddr_un address = UnixAddress();
      if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return Errno("bind");
      owner_ = true;
    }
    if (listen(listener_, 1) != 0) return Errno("listen");
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Channel>> OpenServer() override {
    owner_ = false;
    MESHSIM_RETURN_IF_ERROR(WaitFd(listener_, POLLIN, std::chrono::seconds(10)));
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return Errno("accept");
    CloseFd(listener_);
    return Tuned(fd);
  }

  absl::StatusOr<std::unique_ptr<Channel>> OpenClient() override {
    CloseFd(listener_);
    const int fd = socket(Family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Errno("socket");
    int result;
    if (unix_path_.empty()) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(port_);
      result = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    } else {
      sockaddr_un address = UnixAddress();
      result = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    }
    if (result != 0) {
      const absl::Status status = Errno("connect");
      close(fd);
      return status;
    }
    return Tuned(fd);
  }

 private:
  int Family() const { return unix_path_.empty() ? AF_INET : AF_UNIX; }
  sockaddr_un UnixAddress() const {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, unix_path_.c_str(), sizeof(address.sun_path) - 1);
    return address;
  }
  std::unique_ptr<Channel> Tuned(int fd) const {
    if (unix_path_.empty()) {
      const int on = 1;  // small messages go out at once, as a latency test wants
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    return std::make_unique<FdChannel>(fd, fd);
  }

  std::string name_;
  std::string unix_path_;
  int listener_ = -1;
  uint16_t port_ = 0;
  bool owner_ = false;  // this process made the socket file and removes it
};

}  // namespace

std::unique_ptr<Mechanism> MakePipePair() { return std::make_unique<PipePair>(); }

std::unique_ptr<Mechanism> MakeStreamSocket(std::string name, std::string unix_path) {
  return std::make_unique<StreamSocket>(std::move(name), std::move(unix_path));
}

}  // namespace meshsim::bench
