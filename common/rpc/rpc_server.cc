#include "common/rpc/rpc_server.h"

#include <iterator>

#include "common/rpc/method.h"
#include "common/security/zap_handler.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "common/time/clock.h"
#include "common/net/zmq_poll.h"
#include "proto/rpc.pb.h"
#include "spdlog/spdlog.h"
#include "zmq_addon.hpp"

namespace meshsim::rpc {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);

thread_local std::string g_caller_key;

// Clears the caller key when a handler returns, however it returns.
struct CallerScope {
  explicit CallerScope(std::string key) { g_caller_key = std::move(key); }
  ~CallerScope() { g_caller_key.clear(); }
};

}  // namespace

const std::string& CallerKey() { return g_caller_key; }

absl::StatusOr<std::unique_ptr<RpcServer>> RpcServer::Create(zmq::context_t& context, Options options) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::router);
    socket.set(zmq::sockopt::linger, 0);
    // Beyond this, libzmq drops the connection rather than buffering it.
    socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.max_request_bytes * 2));
    if (options.keyring) security::MakeCurveServer(socket, options.keyring->own().secret_key, "rpc");
    socket.bind(options.bind_endpoint);
    std::string endpoint = socket.get(zmq::sockopt::last_endpoint);
    return std::unique_ptr<RpcServer>(
        new RpcServer(std::move(socket), std::move(endpoint), std::move(options)));
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(StrCat("rpc server cannot bind ", options.bind_endpoint, ": ", e.what()));
  }
}

RpcServer::RpcServer(zmq::socket_t socket, std::string endpoint, Options options)
    : socket_(std::move(socket)), endpoint_(std::move(endpoint)), options_(std::move(options)) {
  if (options_.registry) {
    requests_metric_ = &prometheus::BuildCounter()
                            .Name("meshsim_rpc_requests_total")
                            .Help("RPC requests answered, by method and status code.")
                            .Register(*options_.registry);
    latency_metric_ = &prometheus::BuildHistogram()
                           .Name("meshsim_rpc_request_duration_seconds")
                           .Help("Time from receiving an RPC request to sending its reply, by method.")
                           .Register(*options_.registry);
    malformed_metric_ =
        &prometheus::BuildCounter()
             .Name("meshsim_rpc_malformed_requests_total")
             .Help("RPC requests dropped as malformed: bad framing, oversized, or unparsable.")
             .Register(*options_.registry)
             .Add({});
  }
}

RpcServer::~RpcServer() { Stop(); }

void RpcServer::CheckSignature(std::string_view method, const google::protobuf::Descriptor* request,
                               const google::protobuf::Descriptor* reply) {
  const auto* descriptor = FindMethod(method);
  MESHSIM_CHECK(descriptor != nullptr, StrCat("method ", method, " is not in the IDL"));
  MESHSIM_CHECK(descriptor->input_type() == request && descriptor->output_type() == reply,
                StrCat("handler types do not match the IDL for ", method));
}

void RpcServer::Start() {
  thread_ = StartNamedThread(options_.thread_name, [this] { Loop(); });
}

void RpcServer::Stop() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

RpcServerStats RpcServer::stats() const {
  return {requests_.load(std::memory_order_relaxed), malformed_.load(std::memory_order_relaxed),
          unknown_method_.load(std::memory_order_relaxed)};
}

void RpcServer::Loop() {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  while (!stop_.load(std::memory_order_relaxed)) {
    net::PollFor(&item, 1, kPollInterval);
    if (item.revents & ZMQ_POLLIN) ServeOne();
  }
}

void RpcServer::ServeOne() {
  std::vector<zmq::message_t> parts;
  // One whole multipart message, however many parts it has.
  if (!zmq::recv_multipart(socket_, std::back_inserter(parts), zmq::recv_flags::dontwait)) return;
  std::string reply;
  if (parts.size() != 2) {
    // parts[0] is the routing identity ROUTER prepends; a client that sends
    // more than one frame is not speaking this protocol.
    reply = Reject(
        0, absl::InvalidArgumentError(StrCat("request has ", parts.size() - 1, " frames, expected 1")));
  } else {
    const zmq::message_t& payload = parts[1];
    reply = Handle({static_cast<const std::byte*>(payload.data()), payload.size()},
                   options_.keyring ? security::SenderKey(payload) : std::string());
  }
  socket_.send(zmq::buffer(parts[0].data(), parts[0].size()), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
}

std::string RpcServer::ReplyBytes(uint64_t call_id, const absl::Status& status, std::string body) {
  RpcReply reply;
  reply.set_call_id(call_id);
  reply.set_code(static_cast<int>(status.code()));
  reply.set_message(std::string(status.message()));
  reply.set_body(std::move(body));
  return reply.SerializeAsString();
}

std::string RpcServer::Reject(uint64_t call_id, const absl::Status& status) {
  malformed_.fetch_add(1, std::memory_order_relaxed);
  if (malformed_metric_ != nullptr) malformed_metric_->Increment();
  spdlog::warn("rpc {}: dropped malformed request: {}", endpoint_, status.message());
  return ReplyBytes(call_id, status, {});
}

std::string RpcServer::Handle(std::span<const std::byte> payload, std::string caller) {
  const auto received = SteadyClock::now();
  if (payload.size() > options_.max_request_bytes) {
    return Reject(0, absl::ResourceExhaustedError(StrCat("request of ", payload.size(), " bytes exceeds ",
                                                         options_.max_request_bytes)));
  }
  RpcRequest request;
  if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Reject(0, absl::InvalidArgumentError("request envelope does not parse"));
  }
  auto handler = handlers_.find(request.method());
  if (handler == handlers_.end()) {
    unknown_method_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("rpc {}: unknown method '{}'", endpoint_, request.method());
    return ReplyBytes(request.call_id(),
                      absl::UnimplementedError(StrCat("unknown method '", request.method(), "'")), {});
  }
  if (options_.keyring) {
    if (absl::Status denied = Authorize(request.method(), caller); !denied.ok()) {
      spdlog::warn("rpc {}: {}", endpoint_, denied.message());
      CountRequest(request.method(), denied, received);
      return ReplyBytes(request.call_id(), denied, {});
    }
  }
  CallerScope scope(std::move(caller));
  std::string reply_body;
  bool body_malformed = false;
  absl::Status status;
  try {
    status = handler->second(request.body(), &reply_body, &body_malformed);
  } catch (const std::exception& e) {
    status = absl::InternalError(StrCat(request.method(), " failed: ", e.what()));
  }
  if (body_malformed) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    if (malformed_metric_ != nullptr) malformed_metric_->Increment();
    spdlog::warn("rpc {}: {}: {}", endpoint_, request.method(), status.message());
  }
  CountRequest(request.method(), status, received);
  return ReplyBytes(request.call_id(), status, status.ok() ? std::move(reply_body) : std::string());
}

void RpcServer::CountRequest(const std::string& method, const absl::Status& status, TimePoint received) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  if (requests_metric_ == nullptr) return;
  requests_metric_->Add({{"method", method}, {"code", absl::StatusCodeToString(status.code())}}).Increment();
  // 100 us to ~26 s in factors of 4.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {1e-4,   4e-4,   1.6e-3, 6.4e-3, 2.56e-2,
                                                                   0.1024, 0.4096, 1.6384, 6.5536, 26.2144};
  latency_metric_->Add({{"method", method}}, kBuckets).Observe(SecondsSince(received));
}

absl::Status RpcServer::Authorize(const std::string& method, const std::string& caller) {
  const auto* descriptor = FindMethod(method);
  const v1::CallerRole need = descriptor != nullptr ? CallerOf(*descriptor) : v1::CALLER_COORDINATOR;
  const std::optional<security::Role> role = options_.keyring->RoleOf(caller);
  if (!role) {
    // Admitted by the handshake, since revoked: its list no longer has it.
    return absl::PermissionDeniedError(
        StrCat("not authorized: key ", options_.keyring->NameOf(caller), " is in no list (revoked?)"));
  }
  if (need == v1::CALLER_ANY) return absl::OkStatus();
  const security::Role needed = need == v1::CALLER_VIEWER  ? security::Role::kViewer
                                : need == v1::CALLER_NODE  ? security::Role::kNode
                                : need == v1::CALLER_ADMIN ? security::Role::kAdmin
                                                           : security::Role::kCoordinator;
  if (security::Allows(*role, needed)) return absl::OkStatus();
  return absl::PermissionDeniedError(StrCat("not authorized: ", security::RoleName(*role), " key '",
                                            options_.keyring->NameOf(caller), "' may not call ", method,
                                            " (it needs the ", security::RoleName(needed), " role)"));
}

}  // namespace meshsim::rpc
