// libFuzzer: an RPC request from the network to the coordinator — the
// envelope, then the body of whichever method it names — through the real
// RpcServer and the coordinator's real handlers, as ServeOne would hand
// them a request from its socket. The coordinator keeps its state in a
// tmpfs directory (/dev/shm) so that jobs the fuzzer manages to submit cost
// no disk flushes.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "coordinator/coordinator.h"
#include "fuzz/scratch_dir.h"
#include "google/protobuf/stubs/logging.h"
#include "models/builtin.h"
#include "spdlog/spdlog.h"

namespace {
std::unique_ptr<meshsim::coordinator::Coordinator> g_coordinator;
std::string g_state_dir;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);     // malformed requests log a line each
  google::protobuf::SetLogHandler(nullptr);  // and so does protobuf, for bad UTF-8
  meshsim::models::RegisterBuiltinModels();
  g_state_dir = meshsim::fuzz::MakeScratchDir("meshsim-rpc-fuzz");
  meshsim::coordinator::CoordinatorOptions options;
  options.bind = "tcp://127.0.0.1:0";
  options.state_dir = g_state_dir;
  auto coordinator = meshsim::coordinator::Coordinator::Create(options);
  if (!coordinator.ok()) abort();
  g_coordinator = std::move(*coordinator);
  // Not started: no scheduler thread, so every run is the handlers alone.
  atexit([] {
    g_coordinator.reset();
    std::error_code error;
    std::filesystem::remove_all(g_state_dir, error);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)g_coordinator->rpc_server().Handle({reinterpret_cast<const std::byte*>(data), size}, "");
  return 0;
}
