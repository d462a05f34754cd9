// meshsim RPC between the bench and its peer: a Bench.Echo call through the
// control plane's stack, plain or with CURVE.
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "bench/ipc/bench_echo.pb.h"
#include "bench/ipc/ipc_support.h"
#include "bench/ipc/mechanisms.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "common/security/curve_keys.h"
#include "common/security/zap_handler.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "zmq.hpp"

namespace meshsim::bench {
namespace {

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

std::unique_ptr<Mechanism> MakeRpcRoundTrip(std::string keys_dir) {
  return std::make_unique<RpcRoundTrip>(std::move(keys_dir));
}

}  // namespace meshsim::bench
