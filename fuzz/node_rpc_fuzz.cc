// libFuzzer: RPC requests from the network to a node — Node.PrepareJob,
// StartJob and AbortJob, envelope and body — through the node's real
// RpcServer and handlers (RpcServer::Handle, the path its socket loop uses).
//
// One input is up to kMaxRequests envelopes, each preceded by its length (two
// bytes, little-endian), so that a prepared job can be started by the next
// request as the coordinator would. After each input the harness aborts the
// job the input prepared, so every input starts from an idle node.
//
// What the node reaches while it handles them stays inside this process:
// - it runs in a network namespace of its own, where only loopback exists,
//   so peer endpoints the fuzzer invents connect nowhere else;
// - its coordinator is a real Coordinator in this process, on an ipc socket
//   (the restore path asks it for checkpoint parts; it has none);
// - the models are the shipped ones with every integer parameter capped at
//   kMaxIntegerParam: a model's memory is proportional to its parameters by
//   design (a 100-million-LP PHOLD is a real job), which is not what this
//   fuzzer is for.
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "common/sim/model_registry.h"
#include "coordinator/coordinator.h"
#include "fuzz/scratch_dir.h"
#include "google/protobuf/stubs/logging.h"
#include "meshsim/model.h"
#include "models/epidemic/epidemic.h"
#include "models/phold/phold.h"
#include "node/node.h"
#include "proto/meshsim.pb.h"
#include "proto/rpc.pb.h"
#include "spdlog/spdlog.h"

namespace {

constexpr size_t kMaxRequests = 4;
constexpr double kMaxIntegerParam = 64;

std::unique_ptr<meshsim::coordinator::Coordinator> g_coordinator;
std::unique_ptr<meshsim::node::Node> g_node;
std::string g_state_dir;

// A network namespace with loopback only: root may make one; anyone else
// may where user namespaces are allowed.
void IsolateNetwork() {
  if (unshare(CLONE_NEWNET) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
    std::perror("node_rpc_fuzz: cannot make a network namespace of its own (unshare)");
    abort();
  }
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq lo{};
  std::strncpy(lo.ifr_name, "lo", IFNAMSIZ - 1);
  if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &lo) != 0) abort();
  lo.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &lo) != 0) abort();
  close(fd);
}

meshsim::sim::ModelInfo Capped(meshsim::sim::ModelInfo info) {
  using Kind = meshsim::sim::ParamSpec::Kind;
  for (auto& param : info.params) {
    if (param.kind == Kind::kInteger) {
      param.max = std::min(param.max, kMaxIntegerParam);
      param.default_value = std::min(param.default_value, param.max);
    }
  }
  return info;
}

// Whether `reply` (an RpcReply) is OK.
bool Succeeded(const std::string& reply) {
  meshsim::rpc::RpcReply decoded;
  return decoded.ParseFromString(reply) && decoded.code() == 0;
}

void AbortPrepared(const meshsim::v1::PrepareJobRequest& prepared) {
  meshsim::v1::AbortJobRequest abort_request;
  abort_request.set_job_id(prepared.job_id());
  abort_request.set_attempt(prepared.attempt());
  abort_request.set_reason("fuzz input done");
  meshsim::rpc::RpcRequest envelope;
  envelope.set_method("Node.AbortJob");
  envelope.set_call_id(1);
  envelope.set_deadline_ms(1000);
  envelope.set_body(abort_request.SerializeAsString());
  const std::string bytes = envelope.SerializeAsString();
  (void)g_node->rpc_server().Handle(std::as_bytes(std::span(bytes)), "");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  IsolateNetwork();  // before any thread: a user namespace needs a single-threaded process
  spdlog::set_level(spdlog::level::off);
  google::protobuf::SetLogHandler(nullptr);
  // A fixed build (the seeds' PrepareJob requests name it), not this
  // binary's revision, so the seed corpus stays valid from commit to commit.
  const meshsim::sim::ModelBuild build{"fuzz", "fuzz", "fuzz_seeds"};
  meshsim::sim::ModelRegistry::Global().Register(Capped(meshsim::models::PholdModelInfo()), build);
  meshsim::sim::ModelRegistry::Global().Register(Capped(meshsim::models::EpidemicModelInfo()), build);

  g_state_dir = meshsim::fuzz::MakeScratchDir("meshsim-node-rpc-fuzz");
  meshsim::coordinator::CoordinatorOptions coordinator_options;
  // ipc, not tcp: a connection per restoring input would use up the
  // ephemeral ports in TIME_WAIT within a minute.
  coordinator_options.bind = "ipc://" + g_state_dir + "/coordinator.sock";
  coordinator_options.state_dir = g_state_dir;
  auto coordinator = meshsim::coordinator::Coordinator::Create(coordinator_options);
  if (!coordinator.ok()) abort();
  g_coordinator = std::move(*coordinator);
  g_coordinator->Start();

  meshsim::node::NodeOptions node_options;
  node_options.name = "fuzzed";
  node_options.coordinator_endpoint = g_coordinator->endpoint();
  auto node = meshsim::node::Node::Create(node_options);
  if (!node.ok()) abort();
  g_node = std::move(*node);
  // Not started: it neither registers nor runs jobs, so every request is
  // the handlers alone.
  atexit([] {
    g_node.reset();
    g_coordinator.reset();
    std::error_code error;
    std::filesystem::remove_all(g_state_dir, error);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span input(reinterpret_cast<const std::byte*>(data), size);
  std::optional<meshsim::v1::PrepareJobRequest> prepared;
  for (size_t i = 0; i < kMaxRequests && input.size() >= 2; ++i) {
    const size_t length = std::min<size_t>(
        std::to_integer<size_t>(input[0]) | std::to_integer<size_t>(input[1]) << 8, input.size() - 2);
    const auto request = input.subspan(2, length);
    input = input.subspan(2 + length);
    const std::string reply = g_node->rpc_server().Handle(request, "");
    meshsim::rpc::RpcRequest envelope;
    meshsim::v1::PrepareJobRequest prepare;
    if (Succeeded(reply) && envelope.ParseFromArray(request.data(), static_cast<int>(request.size())) &&
        envelope.method() == "Node.PrepareJob" && prepare.ParseFromString(envelope.body())) {
      prepared = prepare;
    }
  }
  if (prepared) AbortPrepared(*prepared);
  return 0;
}
