// RPC client over a ZeroMQ DEALER socket, for one server endpoint.
//
// Every call has a deadline. A call fails with the server's status code, or
// with UNAVAILABLE (no connection within the deadline) or DEADLINE_EXCEEDED
// (no reply in time). Methods the IDL marks idempotent are retried on
// UNAVAILABLE and on a timed-out attempt, with exponential backoff, until the
// deadline; others are sent once. After a timed-out attempt the socket is
// replaced, so a late reply can never be taken for a later call's.
//
// With keys the client is a CURVE client; a server that refuses its key
// (unknown or revoked) makes a call fail at once with PERMISSION_DENIED
// "not authorized: ..." rather than time out.
//
// Thread-safety: none; use one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/security/curve_keys.h"
#include "common/time/clock.h"
#include "google/protobuf/message.h"
#include "zmq.hpp"

namespace meshsim::rpc {

// A CURVE client's keys: its own pair and the server's public key (Z85).
struct CurveClientKeys {
  std::string public_key;
  std::string secret_key;
  std::string server_public_key;
  std::string own_name;  // for messages: "admin", "node"
};

class RpcClient {
 public:
  struct Options {
    std::string endpoint;
    std::optional<CurveClientKeys> curve = std::nullopt;
    Duration default_timeout = std::chrono::seconds(5);
    // Upper bound on one attempt of an idempotent call; the rest of the
    // deadline is left for retries.
    Duration attempt_timeout = std::chrono::seconds(1);
    Duration initial_backoff = std::chrono::milliseconds(20);
    Duration max_backoff = std::chrono::milliseconds(500);
  };

  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RpcClient>> Create(zmq::context_t& context,
                                                                         Options options);
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Calls `method` ("Service.Method") with the default timeout.
  [[nodiscard]] absl::Status Call(std::string_view method, const google::protobuf::Message& request,
                                  google::protobuf::Message* reply) {
    return Call(method, request, reply, Deadline::After(options_.default_timeout));
  }
  [[nodiscard]] absl::Status Call(std::string_view method, const google::protobuf::Message& request,
                                  google::protobuf::Message* reply, Deadline deadline);

  const std::string& endpoint() const { return options_.endpoint; }

 private:
  RpcClient(zmq::context_t& context, Options options);
  absl::Status Connect();
  // PERMISSION_DENIED if the socket's monitor saw the server refuse the
  // CURVE handshake, or drop the connection before it completed; OK
  // otherwise.
  absl::Status HandshakeRefusal();
  // The refusal one monitor event says, or OK.
  absl::Status RefusalOf(uint16_t event, uint32_t value) const;
  absl::Status Attempt(std::string_view method, const std::string& request_body,
                       google::protobuf::Message* reply, Deadline attempt_deadline, uint32_t deadline_ms);

  zmq::context_t& context_;
  Options options_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<zmq::socket_t> monitor_;  // connection and handshake events of socket_
  bool in_handshake_ = false;               // connected, handshake not yet done
  int dropped_in_handshake_ = 0;            // connections closed before their handshake completed
  uint64_t next_call_id_ = 1;
};

// Options for a client of `endpoint` as the owner of `keyring`: CURVE with
// its own pair toward `server_public_key` (default: the coordinator's), or
// plain TCP when `keyring` is null.
RpcClient::Options ClientOptions(std::string endpoint, const security::Keyring* keyring,
                                 std::string server_public_key = {});

}  // namespace meshsim::rpc
