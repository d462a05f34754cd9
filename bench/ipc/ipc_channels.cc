#include "bench/ipc/ipc_channels.h"

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
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "bench/ipc/bench_echo.pb.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "common/security/curve_keys.h"
#include "common/security/zap_handler.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/transport/shm/probe.h"
#include "common/transport/shm/ring.h"
#include "common/transport/shm/shm_segment.h"
#include "common/net/zmq_poll.h"
#include "zmq.hpp"

namespace meshsim::bench {
namespace {

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(StrCat(what, ": ", strerror(errno)));
}

int ToMillis(Duration timeout) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
}

// Waits until `fd` is readable (or writable).
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

// ---- A rendezvous pipe: the server tells the client its endpoint --------------
class Rendezvous {
 public:
  ~Rendezvous() {
    CloseFd(fds_[0]);
    CloseFd(fds_[1]);
  }
  absl::Status Make() { return pipe2(fds_, O_CLOEXEC) == 0 ? absl::OkStatus() : Errno("pipe2"); }
  absl::Status Tell(const std::string& endpoint) {
    const std::string line = endpoint + "\n";
    return write(fds_[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? absl::OkStatus()
                                                                                         : Errno("write");
  }
  absl::StatusOr<std::string> Hear() {
    std::string endpoint;
    char c;
    for (;;) {
      MESHSIM_RETURN_IF_ERROR(WaitFd(fds_[0], POLLIN, std::chrono::seconds(10)));
      if (read(fds_[0], &c, 1) != 1) return absl::UnavailableError("peer exited before it was ready");
      if (c == '\n') return endpoint;
      endpoint.push_back(c);
    }
  }

 private:
  int fds_[2] = {-1, -1};
};

// ---- ZeroMQ PAIR sockets over tcp://, ipc:// and inproc:// ---------------------
class ZmqChannel final : public Channel {
 public:
  ZmqChannel(std::unique_ptr<zmq::context_t> own_context, zmq::context_t& context)
      : own_context_(std::move(own_context)), socket_(context, zmq::socket_type::pair) {
    socket_.set(zmq::sockopt::linger, 0);
  }
  zmq::socket_t& socket() { return socket_; }

  absl::Status Send(std::span<const std::byte> message) override {
    socket_.send(zmq::const_buffer(message.data(), message.size()), zmq::send_flags::none);
    return absl::OkStatus();
  }
  absl::Status Receive(std::vector<std::byte>* out, Duration timeout) override {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (net::PollFor(&item, 1, timeout) == 0) {
      return absl::DeadlineExceededError("peer did not answer in time");
    }
    (void)socket_.recv(message_);
    const auto* data = static_cast<const std::byte*>(message_.data());
    out->assign(data, data + message_.size());
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<zmq::context_t> own_context_;  // destroyed after socket_
  zmq::socket_t socket_;
  zmq::message_t message_;
};

class ZmqPair final : public Mechanism {
 public:
  // `kind`: "tcp", "ipc" or "inproc".
  ZmqPair(std::string kind, std::string ipc_path) : kind_(std::move(kind)), ipc_path_(std::move(ipc_path)) {}
  std::string name() const override { return "zeromq " + kind_ + "://"; }
  bool same_process() const override { return kind_ == "inproc"; }

  absl::Status Prepare() override {
    // inproc works only inside one context, which both threads share.
    if (same_process()) shared_context_ = std::make_unique<zmq::context_t>();
    return rendezvous_.Make();
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenServer() override {
    auto channel = NewChannel();
    const std::string bind = kind_ == "tcp"   ? "tcp://127.0.0.1:0"
                             : kind_ == "ipc" ? "ipc://" + ipc_path_
                                              : "inproc://bench";
    try {
      channel->socket().bind(bind);
    } catch (const zmq::error_t& e) {
      return absl::UnavailableError(StrCat("bind ", bind, ": ", e.what()));
    }
    MESHSIM_RETURN_IF_ERROR(rendezvous_.Tell(channel->socket().get(zmq::sockopt::last_endpoint)));
    return channel;
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenClient() override {
    MESHSIM_ASSIGN_OR_RETURN(const std::string endpoint, rendezvous_.Hear());
    auto channel = NewChannel();
    channel->socket().connect(endpoint);
    return channel;
  }

 private:
  std::unique_ptr<ZmqChannel> NewChannel() {
    if (shared_context_) return std::make_unique<ZmqChannel>(nullptr, *shared_context_);
    // After a fork each process needs its own context.
    auto context = std::make_unique<zmq::context_t>();
    zmq::context_t& ref = *context;
    return std::make_unique<ZmqChannel>(std::move(context), ref);
  }

  std::string kind_;
  std::string ipc_path_;
  Rendezvous rendezvous_;
  std::unique_ptr<zmq::context_t> shared_context_;
};

// ---- meshsim's shared-memory ring, one each way, with the nodes' doorbells -----
using transport::shm::ColocationProbe;
using transport::shm::Doorbell;
using transport::shm::RingReader;
using transport::shm::RingWriter;

class ShmChannel final : public Channel {
 public:
  ShmChannel(RingWriter writer, RingReader reader, Doorbell peer_bell, Doorbell own_bell)
      : writer_(std::move(writer)), reader_(std::move(reader)), peer_bell_(peer_bell), own_bell_(own_bell) {}

  absl::Status Send(std::span<const std::byte> message) override {
    return writer_.Write(message, peer_bell_, [] { return false; });
  }
  absl::Status Receive(std::vector<std::byte>* out, Duration timeout) override {
    const Deadline deadline = Deadline::After(timeout);
    for (;;) {
      MESHSIM_ASSIGN_OR_RETURN(bool got, reader_.TryRead(out));
      if (got) return absl::OkStatus();
      if (deadline.Expired()) return absl::DeadlineExceededError("peer did not answer in time");
      own_bell_.Wait([this] { return reader_.HasData(); },
                     std::min<Duration>(deadline.Remaining(), std::chrono::milliseconds(100)));
    }
  }

 private:
  RingWriter writer_;
  RingReader reader_;
  Doorbell peer_bell_;
  Doorbell own_bell_;
};

class ShmRing final : public Mechanism {
 public:
  std::string name() const override { return "meshsim shm ring"; }

  absl::Status Prepare() override {
    // Each side sleeps on its own doorbell, as each node does on its probe's.
    MESHSIM_ASSIGN_OR_RETURN(auto server_probe, ColocationProbe::Create("bench-server-bell"));
    MESHSIM_ASSIGN_OR_RETURN(auto client_probe, ColocationProbe::Create("bench-client-bell"));
    server_probe_.emplace(std::move(server_probe));
    client_probe_.emplace(std::move(client_probe));
    const std::string to_server = transport::shm::SegmentName(StrCat("bench-", getpid(), "-a"));
    const std::string to_client = transport::shm::SegmentName(StrCat("bench-", getpid(), "-b"));
    MESHSIM_ASSIGN_OR_RETURN(auto a_writer, RingWriter::Create(to_server, kRingBytes, kBenchJob));
    MESHSIM_ASSIGN_OR_RETURN(auto a_reader, RingReader::Open(to_server, kBenchJob));
    MESHSIM_ASSIGN_OR_RETURN(auto b_writer, RingWriter::Create(to_client, kRingBytes, kBenchJob));
    MESHSIM_ASSIGN_OR_RETURN(auto b_reader, RingReader::Open(to_client, kBenchJob));
    to_server_writer_.emplace(std::move(a_writer));
    to_server_reader_.emplace(std::move(a_reader));
    to_client_writer_.emplace(std::move(b_writer));
    to_client_reader_.emplace(std::move(b_reader));
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenServer() override {
    return std::make_unique<ShmChannel>(std::move(*to_client_writer_), std::move(*to_server_reader_),
                                        client_probe_->doorbell(), server_probe_->doorbell());
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenClient() override {
    return std::make_unique<ShmChannel>(std::move(*to_server_writer_), std::move(*to_client_reader_),
                                        server_probe_->doorbell(), client_probe_->doorbell());
  }

 private:
  static constexpr uint32_t kRingBytes = 4u << 20;  // as a node's links
  static constexpr uint64_t kBenchJob = 1;
  // Declared first so they outlive the rings' users; the bench process
  // unlinks every segment when the mechanism goes.
  std::optional<ColocationProbe> server_probe_, client_probe_;
  std::optional<RingWriter> to_server_writer_, to_client_writer_;
  std::optional<RingReader> to_server_reader_, to_client_reader_;
};

// ---- meshsim RPC: a Bench.Echo call through the control plane's stack ------
class RpcChannel final : public Channel {
 public:
  RpcChannel(std::unique_ptr<zmq::context_t> context, std::unique_ptr<rpc::RpcClient> client)
      : context_(std::move(context)), client_(std::move(client)) {}
  ~RpcChannel() override { client_.reset(); }

  // One call per message: the reply is kept for Receive().
  absl::Status Send(std::span<const std::byte> message) override {
    request_.set_payload(reinterpret_cast<const char*>(message.data()), message.size());
    const bool exiting = !message.empty() && message[0] == std::byte{static_cast<uint8_t>(Op::kExit)};
    const absl::Status status = client_->Call(
        "Bench.Echo", request_, &reply_, Deadline::After(exiting ? std::chrono::seconds(1) : kCallTimeout));
    has_reply_ = status.ok();
    return exiting ? absl::OkStatus() : status;
  }
  absl::Status Receive(std::vector<std::byte>* out, Duration) override {
    if (!has_reply_) return absl::FailedPreconditionError("no call made");
    const auto* data = reinterpret_cast<const std::byte*>(reply_.payload().data());
    out->assign(data, data + reply_.payload().size());
    has_reply_ = false;
    return absl::OkStatus();
  }

 private:
  static constexpr Duration kCallTimeout = std::chrono::seconds(10);
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<rpc::RpcClient> client_;
  v1::EchoRequest request_;
  v1::EchoReply reply_;
  bool has_reply_ = false;
};

// With `keys_dir`, both ends use CURVE as a keyed cluster does: the server
// with the coordinator's pair and a ZAP handler, the client as an admin.
class RpcRoundTrip final : public Mechanism {
 public:
  explicit RpcRoundTrip(std::string keys_dir = "") : keys_dir_(std::move(keys_dir)) {}
  std::string name() const override { return keys_dir_.empty() ? "meshsim rpc" : "meshsim rpc+curve"; }
  bool request_reply() const override { return true; }
  absl::Status Prepare() override {
    if (!keys_dir_.empty() && !std::filesystem::exists(keys_dir_ + "/coordinator.key_secret")) {
      std::filesystem::create_directories(keys_dir_ + "/admins");
      for (const char* name : {"coordinator", "admin"}) {
        MESHSIM_ASSIGN_OR_RETURN(security::KeyPair pair, security::GenerateKeyPair());
        MESHSIM_RETURN_IF_ERROR(security::WriteCertificate(keys_dir_, name, pair, name));
        if (std::string_view(name) == "admin") {
          MESHSIM_RETURN_IF_ERROR(security::WriteCertificate(keys_dir_ + "/admins", name,
                                                             security::KeyPair{pair.public_key, {}}, name));
        }
      }
    }
    return rendezvous_.Make();
  }

  absl::Status Serve() override {
    zmq::context_t context;
    std::shared_ptr<security::Keyring> keyring;
    std::unique_ptr<security::ZapHandler> zap;
    if (!keys_dir_.empty()) {
      MESHSIM_ASSIGN_OR_RETURN(keyring, security::Keyring::Load(keys_dir_, "coordinator"));
      MESHSIM_ASSIGN_OR_RETURN(zap, security::ZapHandler::Start(context, security::KeyringPolicy(keyring)));
    }
    MESHSIM_ASSIGN_OR_RETURN(auto server,
                             rpc::RpcServer::Create(context, {.bind_endpoint = "tcp://127.0.0.1:0",
                                                              .max_request_bytes = 16 << 20,
                                                              .thread_name = "bench-rpc",
                                                              .keyring = keyring}));
    std::mutex mutex;
    std::condition_variable exited;
    bool exit = false;
    server->Register<v1::EchoRequest, v1::EchoReply>(
        "Bench.Echo", [&](const v1::EchoRequest& request, v1::EchoReply* reply) {
          const auto op = request.payload().empty() ? Op::kSink : static_cast<Op>(request.payload()[0]);
          if (op == Op::kEcho) reply->set_payload(request.payload());
          if (op == Op::kAck) reply->set_payload(std::string(1, static_cast<char>(Op::kAck)));
          if (op == Op::kExit) {
            std::lock_guard lock(mutex);
            exit = true;
            exited.notify_all();
          }
          return absl::OkStatus();
        });
    server->Start();
    MESHSIM_RETURN_IF_ERROR(rendezvous_.Tell(server->endpoint()));
    std::unique_lock lock(mutex);
    exited.wait(lock, [&] { return exit; });
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the last reply leaves
    server->Stop();
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Channel>> OpenClient() override {
    MESHSIM_ASSIGN_OR_RETURN(const std::string endpoint, rendezvous_.Hear());
    auto context = std::make_unique<zmq::context_t>();
    std::unique_ptr<security::Keyring> keyring;
    if (!keys_dir_.empty()) {
      MESHSIM_ASSIGN_OR_RETURN(keyring, security::Keyring::Load(keys_dir_, "admin"));
    }
    MESHSIM_ASSIGN_OR_RETURN(auto client,
                             rpc::RpcClient::Create(*context, rpc::ClientOptions(endpoint, keyring.get())));
    return std::make_unique<RpcChannel>(std::move(context), std::move(client));
  }

 private:
  std::string keys_dir_;
  Rendezvous rendezvous_;
};

}  // namespace

absl::Status ServeEcho(Channel& channel) {
  std::vector<std::byte> message;
  const std::byte ack[1] = {std::byte{static_cast<uint8_t>(Op::kAck)}};
  for (;;) {
    // The bench may pause between measurements; it kills this process if
    // it goes away, so a generous wait is safe.
    MESHSIM_RETURN_IF_ERROR(channel.Receive(&message, std::chrono::seconds(60)));
    const auto op = message.empty() ? Op::kSink : static_cast<Op>(message[0]);
    switch (op) {
      case Op::kEcho:
        MESHSIM_RETURN_IF_ERROR(channel.Send(message));
        break;
      case Op::kAck:
        MESHSIM_RETURN_IF_ERROR(channel.Send(ack));
        break;
      case Op::kExit:
        return absl::OkStatus();
      case Op::kSink:
        break;
    }
  }
}

absl::Status Mechanism::Serve() {
  MESHSIM_ASSIGN_OR_RETURN(auto channel, OpenServer());
  return ServeEcho(*channel);
}

std::vector<std::unique_ptr<Mechanism>> AllMechanisms(const std::string& scratch_dir) {
  std::vector<std::unique_ptr<Mechanism>> all;
  all.push_back(std::make_unique<ShmRing>());
  all.push_back(std::make_unique<PipePair>());
  all.push_back(std::make_unique<StreamSocket>("unix socket", scratch_dir + "/bench.sock"));
  all.push_back(std::make_unique<StreamSocket>("tcp loopback", ""));
  all.push_back(std::make_unique<ZmqPair>("tcp", ""));
  all.push_back(std::make_unique<ZmqPair>("ipc", scratch_dir + "/zmq.ipc"));
  all.push_back(std::make_unique<ZmqPair>("inproc", ""));
  all.push_back(std::make_unique<RpcRoundTrip>());
  all.push_back(std::make_unique<RpcRoundTrip>(scratch_dir + "/curve-keys"));
  return all;
}

}  // namespace meshsim::bench
