#include "bench/ipc/ipc_channels.h"

#include "bench/ipc/mechanisms.h"
#include "common/status/status.h"

namespace meshsim::bench {

absl::Status ServeEcho(Channel& channel) {
  std::vector<std::byte> message;
  const std::byte ack[1] = {std::byte{static_cast<uint8_t>(Op::kAck)}};
  for (;;) {
    // The bench may pause between measurements; it kills this process if
    // it goes away, so a generous wait is safe.
    MESHSIM_RETURN_IF_ERROR(channel.Receive(&message, std::chrono::seconds(60)));
    const auto op = message.empty() ? Op::kSink : static_cast<Op>(message[0]);
    switch (op) {
      case Op::kEcho:
        MESHSIM_RETURN_IF_ERROR(channel.Send(message));
        break;
      case Op::kAck:
        MESHSIM_RETURN_IF_ERROR(channel.Send(ack));
        break;
      case Op::kExit:
        return absl::OkStatus();
      case Op::kSink:
        break;
    }
  }
}

absl::Status Mechanism::Serve() {
  MESHSIM_ASSIGN_OR_RETURN(auto channel, OpenServer());
  return ServeEcho(*channel);
}

std::vector<std::unique_ptr<Mechanism>> AllMechanisms(const std::string& scratch_dir) {
  std::vector<std::unique_ptr<Mechanism>> all;
  all.push_back(MakeShmRing());
  all.push_back(MakePipePair());
  all.push_back(MakeStreamSocket("unix socket", scratch_dir + "/bench.sock"));
  all.push_back(MakeStreamSocket("tcp loopback", ""));
  all.push_back(MakeZmqPair("tcp", ""));
  all.push_back(MakeZmqPair("ipc", scratch_dir + "/zmq.ipc"));
  all.push_back(MakeZmqPair("inproc", ""));
  all.push_back(MakeRpcRoundTrip(""));
  all.push_back(MakeRpcRoundTrip(scratch_dir + "/curve-keys"));
  return all;
}

}  // namespace meshsim::bench
