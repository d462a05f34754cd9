// The inter-process mechanisms `meshsim bench ipc` compares, each behind one
// small interface: a duplex, message-oriented channel between the bench
// (the client) and a peer process it forks (the server, which echoes).
//
// Lifecycle of one mechanism: Prepare() in the bench process creates what
// both sides share (pipes, a listening socket, shm rings); then the process
// forks; the child calls OpenServer(), the parent OpenClient(). A mechanism
// that cannot cross processes (ZeroMQ inproc) says so with same_process(),
// and the harness runs its server on a thread instead.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/time/clock.h"

namespace meshsim::bench {

class Channel {
 public:
  virtual ~Channel() = default;
  // Sends one message.
  [[nodiscard]] virtual absl::Status Send(std::span<const std::byte> message) = 0;
  // Receives one whole message into *out; DEADLINE_EXCEEDED after `timeout`.
  [[nodiscard]] virtual absl::Status Receive(std::vector<std::byte>* out, Duration timeout) = 0;
};

// The first byte of every message the bench sends tells the peer what to do.
enum class Op : uint8_t {
  kEcho = 1,  // send the message back
  kSink = 2,  // keep quiet (throughput)
  kAck = 3,   // send back one byte (the end of a throughput burst)
  kExit = 4,  // stop serving
};

// The peer's loop over a channel: answers ops until kExit.
[[nodiscard]] absl::Status ServeEcho(Channel& channel);

class Mechanism {
 public:
  virtual ~Mechanism() = default;
  virtual std::string name() const = 0;
  // True when the two ends must live in one process (as threads).
  virtual bool same_process() const { return false; }
  // Whether Send() streams (a one-way throughput means something) or each
  // message is a request waiting for its reply (RPC: throughput is calls/s).
  virtual bool request_reply() const { return false; }

  // In the bench process, before the fork.
  [[nodiscard]] virtual absl::Status Prepare() { return absl::OkStatus(); }
  // In the peer (child) process, after the fork: serves until kExit. By
  // default ServeEcho() over OpenServer().
  [[nodiscard]] virtual absl::Status Serve();
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<Channel>> OpenServer() {
    return absl::UnimplementedError("serves by itself");
  }
  // In the bench process, after the fork.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<Channel>> OpenClient() = 0;
};

// Every mechanism, in the order they are reported; `scratch_dir` holds
// filesystem endpoints (Unix socket, ZeroMQ ipc://) and must exist.
std::vector<std::unique_ptr<Mechanism>> AllMechanisms(const std::string& scratch_dir);

}  // namespace meshsim::bench
