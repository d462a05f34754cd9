// The ZAP handler (ZeroMQ Authentication Protocol, RFC 27) of one ZeroMQ
// context: libzmq asks it about every CURVE handshake on a server socket of
// that context, and it answers with the policy's decision. An admitted peer's
// user id (here its public key, Z85) rides on every message it sends, so
// servers can check per message who sent it (zmq_msg_gets "User-Id").
//
// Thread-safety: the policy runs on the handler's thread; Stop() from the
// owner's.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"
#include "zmq.hpp"

namespace prometheus {
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace meshsim::security {

struct ZapDecision {
  bool allowed = false;
  std::string reason;  // why not, for the log
};

class ZapHandler {
 public:
  // domain: the server socket's ZMQ_ZAP_DOMAIN ("rpc", "data"); address: the
  // peer's IP; public_key: Z85.
  using Policy = std::function<ZapDecision(const std::string& domain, const std::string& address,
                                           const std::string& public_key)>;

  // Binds inproc://zeromq.zap.01 in `context` (once per context) and starts
  // answering. Counts meshsim_auth_{accepted,refused}_total{domain} in
  // `registry` when given.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ZapHandler>> Start(
      zmq::context_t& context, Policy policy, std::shared_ptr<prometheus::Registry> registry = nullptr);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  ZapHandler(zmq::socket_t socket, Policy policy) : socket_(std::move(socket)), policy_(std::move(policy)) {}
  void Serve();
  void AnswerOne();

  zmq::socket_t socket_;
  Policy policy_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> refused_{0};
  prometheus::Family<prometheus::Counter>* accepted_metric_ = nullptr;
  prometheus::Family<prometheus::Counter>* refused_metric_ = nullptr;
};

class Keyring;

// The cluster's admission policy over a key directory: on "rpc" sockets any
// key in one of the lists (each request is then checked for its method's
// role); on "data" sockets node keys only, and, when `data_peer` is given,
// only those it approves (the peers of the node's current job).
ZapHandler::Policy KeyringPolicy(std::shared_ptr<Keyring> keyring,
                                 std::function<bool(const std::string& public_key)> data_peer = {});

// Sets up `socket` as a CURVE server with `secret_key` (Z85), its
// handshakes judged by the context's ZapHandler under `domain`.
void MakeCurveServer(zmq::socket_t& socket, const std::string& secret_key, const std::string& domain);
// Sets up `socket` as a CURVE client with its own pair, for a server whose
// public key is `server_public_key`.
void MakeCurveClient(zmq::socket_t& socket, const std::string& public_key, const std::string& secret_key,
                     const std::string& server_public_key);
// The authenticated sender of a message received on a CURVE server socket
// (its public key, Z85), or "" when the socket is not secured.
std::string SenderKey(const zmq::message_t& message);

}  // namespace meshsim::security
