#include "common/transport/zmq/zmq_link.h"

#include <chrono>
#include <cstring>

#include "common/security/zap_handler.h"
#include "common/strings/format.h"
#include "common/net/zmq_poll.h"

namespace meshsim::transport {

absl::StatusOr<std::unique_ptr<ZmqFrameInbox>> ZmqFrameInbox::Bind(zmq::context_t& context,
                                                                   const std::string& endpoint,
                                                                   size_t max_frame_bytes,
                                                                   const std::string& curve_secret_key) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::pull);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_frame_bytes));
    socket.set(zmq::sockopt::rcvhwm, 0);  // never drop: the window protocol bounds what is queued
    if (!curve_secret_key.empty()) security::MakeCurveServer(socket, curve_secret_key, "data");
    socket.bind(endpoint);
    std::string bound = socket.get(zmq::sockopt::last_endpoint);
    return std::unique_ptr<ZmqFrameInbox>(new ZmqFrameInbox(std::move(socket), std::move(bound)));
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(StrCat("cannot bind data endpoint ", endpoint, ": ", e.what()));
  }
}

absl::StatusOr<bool> ZmqFrameInbox::Receive(std::vector<std::byte>* frame, Duration timeout) {
  try {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    net::PollFor(&item, 1, timeout);
    if (!(item.revents & ZMQ_POLLIN)) return false;
    if (!socket_.recv(message_, zmq::recv_flags::dontwait)) return false;
    const char* sender = zmq_msg_gets(message_.handle(), "User-Id");
    last_sender_size_ = sender != nullptr ? strnlen(sender, sizeof(last_sender_)) : 0;
    std::memcpy(last_sender_, sender != nullptr ? sender : "", last_sender_size_);
    frame->resize(message_.size());
    std::memcpy(frame->data(), message_.data(), message_.size());
    // A multipart message is not a frame this protocol sends; keep only the
    // first part (the decoder will reject it) and discard the rest.
    while (message_.more() && socket_.recv(message_, zmq::recv_flags::dontwait)) {
    }
    return true;
  } catch (const zmq::error_t& e) {
    return absl::InternalError(StrCat("data inbox ", endpoint_, ": ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<ZmqPeerLink>> ZmqPeerLink::Connect(zmq::context_t& context,
                                                                  const std::string& endpoint,
                                                                  Duration send_timeout, Duration linger,
                                                                  const security::KeyPair* own,
                                                                  const std::string& peer_public_key) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::push);
    socket.set(zmq::sockopt::linger,
               static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(linger).count()));
    socket.set(zmq::sockopt::sndtimeo,
               static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(send_timeout).count()));
    socket.set(zmq::sockopt::sndhwm, 0);
    if (own != nullptr) security::MakeCurveClient(socket, own->public_key, own->secret_key, peer_public_key);
    socket.connect(endpoint);
    return std::unique_ptr<ZmqPeerLink>(new ZmqPeerLink(std::move(socket), endpoint));
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(StrCat("cannot connect data link to '", endpoint, "': ", e.what()));
  }
}

absl::Status ZmqPeerLink::Send(std::span<const std::byte> frame) {
  try {
    if (!socket_.send(zmq::const_buffer(frame.data(), frame.size()), zmq::send_flags::none)) {
      return absl::UnavailableError(StrCat("data link to ", endpoint_, ": send timed out"));
    }
    return absl::OkStatus();
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(StrCat("data link to ", endpoint_, ": ", e.what()));
  }
}

}  // namespace meshsim::transport
