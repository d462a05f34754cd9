#include "common/rpc/rpc_client.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "common/net/zmq_poll.h"
#include "common/rpc/method.h"
#include "common/security/zap_handler.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "proto/rpc.pb.h"

namespace meshsim::rpc {
namespace {

bool Retryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

std::atomic<uint64_t> g_monitor_count{0};

// Connections in a row the server closed mid-handshake before a call says
// it was refused rather than unreachable.
constexpr int kHandshakeDropsForRefusal = 3;

}  // namespace

RpcClient::Options ClientOptions(std::string endpoint, const security::Keyring* keyring,
                                 std::string server_public_key) {
  RpcClient::Options options{.endpoint = std::move(endpoint)};
  if (keyring != nullptr) {
    if (server_public_key.empty()) server_public_key = keyring->coordinator_public_key();
    options.curve = CurveClientKeys{keyring->own().public_key, keyring->own().secret_key,
                                    std::move(server_public_key), keyring->own_name()};
  }
  return options;
}

absl::StatusOr<std::unique_ptr<RpcClient>> RpcClient::Create(zmq::context_t& context, Options options) {
  auto client = std::unique_ptr<RpcClient>(new RpcClient(context, std::move(options)));
  if (auto status = client->Connect(); !status.ok()) return status;
  return client;
}

RpcClient::RpcClient(zmq::context_t& context, Options options)
    : context_(context), options_(std::move(options)) {}

RpcClient::~RpcClient() = default;

absl::Status RpcClient::Connect() {
  try {
    auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    // Queue nothing to a peer that is not connected: a send waits (bounded by
    // the deadline) until the connection is up, instead of piling requests
    // up for a server that may never come.
    socket->set(zmq::sockopt::immediate, 1);
    monitor_.reset();
    in_handshake_ = false;
    dropped_in_handshake_ = 0;
    if (options_.curve) {
      security::MakeCurveClient(*socket, options_.curve->public_key, options_.curve->secret_key,
                                options_.curve->server_public_key);
    }
    // A refused or failed handshake is silent on the wire; the socket's
    // monitor tells, so a call can say why instead of timing out.
    const std::string address = StrCat("inproc://meshsim-rpc-monitor-", g_monitor_count.fetch_add(1));
    if (zmq_socket_monitor(socket->handle(), address.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_CONNECTED |
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) == 0) {
      monitor_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
      monitor_->set(zmq::sockopt::linger, 0);
      monitor_->connect(address);
    }
    socket->connect(options_.endpoint);
    socket_ = std::move(socket);
    return absl::OkStatus();
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(StrCat("cannot connect to '", options_.endpoint, "': ", e.what()));
  }
}

absl::Status RpcClient::Call(std::string_view method, const google::protobuf::Message& request,
                             google::protobuf::Message* reply, Deadline deadline) {
  const auto* descriptor = FindMethod(method);
  if (descriptor == nullptr) {
    return absl::InvalidArgumentError(StrCat("method ", method, " is not in the IDL"));
  }
  const bool idempotent = IsIdempotent(*descriptor);
  const std::string body = request.SerializeAsString();
  Duration backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    Deadline attempt_deadline =
        idempotent ? Deadline::After(std::min(deadline.Remaining(), options_.attempt_timeout)) : deadline;
    const auto left_ms = deadline.RemainingMillis().count();
    absl::Status status = Attempt(method, body, reply, attempt_deadline,
                                  static_cast<uint32_t>(std::clamp<int64_t>(left_ms, 1, UINT32_MAX)));
    if (!status.ok() && Retryable(status)) {
      if (absl::Status refused = HandshakeRefusal(); !refused.ok()) return refused;
    }
    if (status.ok() || !idempotent || !Retryable(status)) {
      return status;
    }
    if (deadline.Remaining() <= backoff) {
      return absl::Status(status.code(), StrCat(method, " to ", options_.endpoint, ": ", status.message(),
                                                " (after ", attempt, " attempts)"));
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status RpcClient::HandshakeRefusal() {
  if (!monitor_) return absl::OkStatus();
  zmq::message_t event;
  while (monitor_->recv(event, zmq::recv_flags::dontwait)) {
    // An event is two frames: (uint16 event, uint32 value) and the endpoint.
    uint16_t id = 0;
    uint32_t value = 0;
    if (event.size() >= 6) {
      std::memcpy(&id, event.data(), sizeof(id));
      std::memcpy(&value, static_cast<const char*>(event.data()) + 2, sizeof(value));
    }
    zmq::message_t address;
    if (event.more()) (void)monitor_->recv(address, zmq::recv_flags::dontwait);
    if (absl::Status refused = RefusalOf(id, value); !refused.ok()) return refused;
    if (id == ZMQ_EVENT_CONNECTED) in_handshake_ = true;
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      in_handshake_ = false;
      dropped_in_handshake_ = 0;
    }
    if (id == ZMQ_EVENT_DISCONNECTED && in_handshake_) {
      in_handshake_ = false;
      ++dropped_in_handshake_;
    }
  }
  // The server may close a mismatched handshake before its side of it
  // reaches this socket, so no failure event comes; connections dropped
  // again and again before the handshake completes say the same. (A server
  // that is restarting refuses the connection instead.)
  if (dropped_in_handshake_ >= kHandshakeDropsForRefusal) {
    return absl::PermissionDeniedError(
        options_.curve ? StrCat("not authorized: the CURVE handshake with ", options_.endpoint,
                                " failed (the server closed the connection): is the server's public key "
                                "(coordinator.key) this cluster's, and does the server use keys?")
                       : StrCat("not authorized: ", options_.endpoint,
                                " closed the connection during the handshake: it likely requires CURVE keys: "
                                "give --keys DIR (docs/security.md)"));
  }
  return absl::OkStatus();
}

absl::Status RpcClient::RefusalOf(uint16_t event, uint32_t value) const {
  const std::string own = options_.curve ? StrCat("key '", options_.curve->own_name, "'") : "";
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return absl::PermissionDeniedError(StrCat("not authorized: ", options_.endpoint, " refused ", own,
                                              " (ZAP status ", value,
                                              "): it is in none of the server's key lists"));
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
    return absl::PermissionDeniedError(
        options_.curve
            ? StrCat("not authorized: ", options_.endpoint, " does not speak CURVE (a server without keys?)")
            : StrCat("not authorized: ", options_.endpoint,
                     " requires CURVE keys: give --keys DIR (docs/security.md)"));
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && options_.curve) {
    return absl::PermissionDeniedError(StrCat("not authorized: the CURVE handshake with ", options_.endpoint,
                                              " failed: is the server's public key (coordinator.key) this "
                                              "cluster's?"));
  }
  return absl::OkStatus();
}

absl::Status RpcClient::Attempt(std::string_view method, const std::string& request_body,
                                google::protobuf::Message* reply, Deadline attempt_deadline,
                                uint32_t deadline_ms) {
  if (!socket_) MESHSIM_RETURN_IF_ERROR(Connect());
  RpcRequest request;
  request.set_method(std::string(method));
  const uint64_t call_id = next_call_id_++;
  request.set_call_id(call_id);
  request.set_body(request_body);
  request.set_deadline_ms(deadline_ms);
  const std::string bytes = request.SerializeAsString();

  try {
    zmq::pollitem_t out{socket_->handle(), 0, ZMQ_POLLOUT, 0};
    net::PollUntil(&out, 1, attempt_deadline);
    if (!(out.revents & ZMQ_POLLOUT) || !socket_->send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
      return absl::UnavailableError(StrCat("no connection to ", options_.endpoint, " for ", method));
    }
    zmq::message_t message;
    for (;;) {
      zmq::pollitem_t in{socket_->handle(), 0, ZMQ_POLLIN, 0};
      net::PollUntil(&in, 1, attempt_deadline);
      if (!(in.revents & ZMQ_POLLIN)) {
        // The request may still be in flight; a fresh socket makes sure its
        // reply, if it ever comes, is not read as another call's.
        socket_.reset();
        return absl::DeadlineExceededError(
            StrCat(method, " to ", options_.endpoint, ": no reply within the deadline"));
      }
      if (!socket_->recv(message, zmq::recv_flags::dontwait)) continue;
      RpcReply envelope;
      if (!envelope.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
        return absl::DataLossError(StrCat(method, ": reply envelope does not parse"));
      }
      if (envelope.call_id() != call_id) continue;  // a stale reply to an earlier call
      if (envelope.code() != 0) {
        return absl::Status(static_cast<absl::StatusCode>(envelope.code()), envelope.message());
      }
      if (!reply->ParseFromString(envelope.body())) {
        return absl::DataLossError(StrCat(method, ": reply body does not parse"));
      }
      return absl::OkStatus();
    }
  } catch (const zmq::error_t& e) {
    socket_.reset();
    return absl::UnavailableError(StrCat(method, " to ", options_.endpoint, ": ", e.what()));
  }
}

}  // namespace meshsim::rpc
