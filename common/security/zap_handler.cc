#include "common/security/zap_handler.h"

#include <iterator>
#include <vector>

#include "common/security/curve_keys.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "common/net/zmq_poll.h"
#include "prometheus/counter.h"
#include "spdlog/spdlog.h"
#include "zmq_addon.hpp"

namespace meshsim::security {
namespace {

constexpr int kPollMillis = 100;

}  // namespace

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t& context, Policy policy, std::shared_ptr<prometheus::Registry> registry) {
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.set(zmq::sockopt::linger, 0);
  try {
    socket.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return absl::FailedPreconditionError(StrCat("cannot start the ZAP handler: ", e.what()));
  }
  auto handler = std::unique_ptr<ZapHandler>(new ZapHandler(std::move(socket), std::move(policy)));
  if (registry) {
    handler->accepted_metric_ = &prometheus::BuildCounter()
                                     .Name("meshsim_auth_accepted_total")
                                     .Help("CURVE handshakes admitted, by socket domain (rpc, data)")
                                     .Register(*registry);
    handler->refused_metric_ =
        &prometheus::BuildCounter()
             .Name("meshsim_auth_refused_total")
             .Help("CURVE handshakes refused (unknown or revoked key), by socket domain")
             .Register(*registry);
  }
  handler->thread_ = StartNamedThread("zap", [h = handler.get()] { h->Serve(); });
  return handler;
}

ZapHandler::~ZapHandler() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::Serve() {
  while (!stopping_) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    net::PollFor(&item, 1, std::chrono::milliseconds(kPollMillis));
    if (item.revents & ZMQ_POLLIN) AnswerOne();
  }
}

void ZapHandler::AnswerOne() {
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(socket_, std::back_inserter(parts), zmq::recv_flags::dontwait)) return;
  // version, request id, domain, address, identity, mechanism, credentials...
  auto text = [&](size_t i) { return i < parts.size() ? parts[i].to_string() : std::string(); };
  const std::string request_id = text(1);
  const std::string domain = text(2);
  const std::string address = text(3);
  ZapDecision decision;
  std::string public_key;
  if (parts.size() < 7 || text(0) != "1.0" || text(5) != "CURVE" || parts[6].size() != 32) {
    decision.reason = StrCat("not a CURVE handshake (mechanism '", text(5), "')");
  } else {
    char z85[kZ85KeyLength + 1];
    zmq_z85_encode(z85, static_cast<const uint8_t*>(parts[6].data()), 32);
    public_key = z85;
    decision = policy_(domain, address, public_key);
  }
  auto& metric = decision.allowed ? accepted_metric_ : refused_metric_;
  if (metric != nullptr) metric->Add({{"domain", domain}}).Increment();
  if (!decision.allowed) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("auth: refused a {} connection from {}: {}", domain, address, decision.reason);
  }
  const std::string code = decision.allowed ? "200" : "400";
  socket_.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(code), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(decision.allowed ? std::string("OK") : decision.reason), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(decision.allowed ? public_key : std::string()), zmq::send_flags::sndmore);
  socket_.send(zmq::message_t(), zmq::send_flags::none);
}

ZapHandler::Policy KeyringPolicy(std::shared_ptr<Keyring> keyring,
                                 std::function<bool(const std::string& public_key)> data_peer) {
  return [keyring = std::move(keyring), data_peer = std::move(data_peer)](
             const std::string& domain, const std::string&, const std::string& key) -> ZapDecision {
    const std::optional<Role> role = keyring->RoleOf(key);
    const std::string short_key = StrCat(key.substr(0, 8), "...");
    if (!role) return {false, StrCat("key ", short_key, " is in none of the lists of ", keyring->dir())};
    if (domain == "data") {
      if (*role != Role::kNode) {
        return {false, StrCat(RoleName(*role), " key '", keyring->NameOf(key), "' may not send data frames")};
      }
      if (data_peer && !data_peer(key)) {
        return {false, StrCat("node key '", keyring->NameOf(key), "' is not a peer of this node's job")};
      }
    }
    return {true, {}};
  };
}

void MakeCurveServer(zmq::socket_t& socket, const std::string& secret_key, const std::string& domain) {
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, secret_key);
  socket.set(zmq::sockopt::zap_domain, domain);
  // Without a ZAP handler libzmq would admit every key. Every process that
  // has keys starts its ZapHandler before its first server socket; where
  // libzmq has the (draft) option, it also refuses handshakes when none
  // answers.
  constexpr int kZapEnforceDomain = 93;  // ZMQ_ZAP_ENFORCE_DOMAIN
  const int enforce = 1;
  (void)zmq_setsockopt(socket.handle(), kZapEnforceDomain, &enforce, sizeof(enforce));
}

void MakeCurveClient(zmq::socket_t& socket, const std::string& public_key, const std::string& secret_key,
                     const std::string& server_public_key) {
  socket.set(zmq::sockopt::curve_serverkey, server_public_key);
  socket.set(zmq::sockopt::curve_publickey, public_key);
  socket.set(zmq::sockopt::curve_secretkey, secret_key);
}

std::string SenderKey(const zmq::message_t& message) {
  const char* user_id = zmq_msg_gets(const_cast<zmq_msg_t*>(message.handle()), "User-Id");
  return user_id != nullptr ? user_id : "";
}

}  // namespace meshsim::security
