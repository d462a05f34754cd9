// RPC server over a ZeroMQ ROUTER socket. Serves many clients; dispatches
// each request by method name to a typed handler registered for it.
//
// Thread-safety: Register() before Start(). Handlers run on the server's own
// thread, one at a time, so they must not block for long. Start()/Stop() from
// the owning thread.
//
// With a keyring, a request whose key lacks its method's role is answered
// PERMISSION_DENIED ("not authorized: ..."), logged and counted.
//
// Bad input never crashes the server: a request that is not two frames, is
// larger than max_request_bytes, does not parse, names an unknown method or
// carries a body that does not parse is answered with an error status when
// it can be, and counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/security/curve_keys.h"
#include "common/status/status.h"
#include "common/time/clock.h"
#include "google/protobuf/message.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "zmq.hpp"

namespace meshsim::rpc {

// The authenticated public key (Z85) of the request a handler is serving,
// or "" without keys. Valid on the server's thread during the handler.
const std::string& CallerKey();

struct RpcServerStats {
  uint64_t requests = 0;   // answered with any status
  uint64_t malformed = 0;  // not two frames, oversized, envelope or body unparsable
  uint64_t unknown_method = 0;
};

class RpcServer {
 public:
  struct Options {
    std::string bind_endpoint = "tcp://127.0.0.1:0";  // port 0: the OS picks
    size_t max_request_bytes = 16 << 20;
    std::string thread_name = "rpc-server";
    // Where meshsim_rpc_* metrics go; none when null.
    std::shared_ptr<prometheus::Registry> registry = nullptr;
    // With keys: a CURVE server with this keyring's own secret key; the
    // context's ZapHandler admits keys, and each request is checked against
    // its method's (caller) role in the IDL. Without: plain TCP.
    std::shared_ptr<security::Keyring> keyring = nullptr;
  };

  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RpcServer>> Create(zmq::context_t& context,
                                                                         Options options);
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Registers the handler of `method` ("Service.Method"). The request and
  // reply types must be the IDL's for that method (checked, aborts if not).
  template <typename Request, typename Reply>
  void Register(std::string_view method, std::function<absl::Status(const Request&, Reply*)> handler) {
    CheckSignature(method, Request::descriptor(), Reply::descriptor());
    handlers_[std::string(method)] = [handler = std::move(handler)](const std::string& body,
                                                                    std::string* reply_body,
                                                                    bool* body_malformed) -> absl::Status {
      Request request;
      if (!request.ParseFromString(body)) {
        *body_malformed = true;
        return absl::InvalidArgumentError("request body does not parse as " +
                                          Request::descriptor()->full_name());
      }
      Reply reply;
      MESHSIM_RETURN_IF_ERROR(handler(request, &reply));
      reply.SerializeToString(reply_body);
      return absl::OkStatus();
    };
  }

  // The endpoint clients connect to (port resolved when bound to port 0).
  const std::string& endpoint() const { return endpoint_; }

  void Start();
  void Stop();

  // One request's bytes (an RpcRequest envelope) in, its RpcReply's bytes
  // out, through the registered handlers, with the same checks, counting
  // and logging as a request from the socket. `caller` is the sender's key
  // (with a keyring). For in-process drivers: the loop, and the fuzzer.
  std::string Handle(std::span<const std::byte> payload, std::string caller);

  RpcServerStats stats() const;

 private:
  using Handler =
      std::function<absl::Status(const std::string& body, std::string* reply_body, bool* body_malformed)>;

  RpcServer(zmq::socket_t socket, std::string endpoint, Options options);
  static void CheckSignature(std::string_view method, const google::protobuf::Descriptor* request,
                             const google::protobuf::Descriptor* reply);
  void Loop();
  void ServeOne();
  void CountRequest(const std::string& method, const absl::Status& status, TimePoint received);
  static std::string ReplyBytes(uint64_t call_id, const absl::Status& status, std::string body);
  std::string Reject(uint64_t call_id, const absl::Status& status);
  // PERMISSION_DENIED unless `caller`'s role may call `method`.
  absl::Status Authorize(const std::string& method, const std::string& caller);

  zmq::socket_t socket_;
  std::string endpoint_;
  Options options_;
  std::map<std::string, Handler, std::less<>> handlers_;
  std::thread thread_;
  // Written by Stop(), read by the loop between polls: relaxed suffices,
  // nothing else is published through it.
  std::atomic<bool> stop_{false};
  // Written by the server thread, read by stats() from any thread: relaxed
  // counters, no ordering with other data.
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<uint64_t> unknown_method_{0};

  // Metrics, when a registry was given; used by the server thread only
  // (the families lock themselves when a new label set is added).
  prometheus::Family<prometheus::Counter>* requests_metric_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_metric_ = nullptr;
  prometheus::Counter* malformed_metric_ = nullptr;
};

}  // namespace meshsim::rpc
