// ZeroMQ PAIR sockets between the bench and its peer over tcp://, ipc://
// and inproc://.
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "bench/ipc/ipc_support.h"
#include "bench/ipc/mechanisms.h"
#include "common/net/zmq_poll.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "zmq.hpp"

namespace meshsim::bench {
namespace {

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

}  // namespace

std::unique_ptr<Mechanism> MakeZmqPair(std::string kind, std::string ipc_path) {
  return std::make_unique<ZmqPair>(std::move(kind), std::move(ipc_path));
}

}  // namespace meshsim::bench
