// The TCP data plane over ZeroMQ: each node binds one PULL socket (its data
// endpoint, a ZmqFrameInbox) and, per job, connects one PUSH socket to each
// peer's data endpoint (a ZmqPeerLink). One ZeroMQ message is one frame.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/security/curve_keys.h"
#include "common/transport/link.h"
#include "zmq.hpp"

namespace meshsim::transport {

class ZmqFrameInbox final : public FrameInbox {
 public:
  // Binds `endpoint` ("tcp://127.0.0.1:0" picks a free port). Messages larger
  // than max_frame_bytes make libzmq drop the sending connection.
  // With `curve_secret_key` (Z85) the socket is a CURVE server whose
  // handshakes the context's ZapHandler judges under domain "data".
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ZmqFrameInbox>> Bind(
      zmq::context_t& context, const std::string& endpoint, size_t max_frame_bytes,
      const std::string& curve_secret_key = "");

  absl::StatusOr<bool> Receive(std::vector<std::byte>* frame, Duration timeout) override;
  std::string_view last_sender() const override { return {last_sender_, last_sender_size_}; }

  // The bound endpoint, with the port resolved.
  const std::string& endpoint() const { return endpoint_; }

 private:
  ZmqFrameInbox(zmq::socket_t socket, std::string endpoint)
      : socket_(std::move(socket)), endpoint_(std::move(endpoint)) {}
  zmq::socket_t socket_;
  std::string endpoint_;
  zmq::message_t message_;  // reused for every receive
  // The authenticated key of the last frame, copied out of libzmq's
  // per-connection metadata (no allocation); empty without CURVE.
  char last_sender_[security::kZ85KeyLength] = {};
  size_t last_sender_size_ = 0;
};

class ZmqPeerLink final : public PeerLink {
 public:
  // Connects to a peer's data endpoint. Frames still queued when the link is
  // destroyed get `linger` to reach the peer. With `own` keys the link is a
  // CURVE client toward the peer's `peer_public_key`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ZmqPeerLink>> Connect(
      zmq::context_t& context, const std::string& endpoint, Duration send_timeout, Duration linger,
      const security::KeyPair* own = nullptr, const std::string& peer_public_key = "");

  absl::Status Send(std::span<const std::byte> frame) override;
  TransportKind kind() const override { return TransportKind::kTcp; }

 private:
  ZmqPeerLink(zmq::socket_t socket, std::string endpoint)
      : socket_(std::move(socket)), endpoint_(std::move(endpoint)) {}
  zmq::socket_t socket_;
  std::string endpoint_;
};

}  // namespace meshsim::transport
