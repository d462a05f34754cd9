// The mechanisms of bench ipc, one family per file (ipc_streams.cc,
// ipc_zmq.cc, ipc_shm.cc, ipc_rpc.cc); AllMechanisms (ipc_channels.h) lists
// them in report order.
#pragma once

#include <memory>
#include <string>

#include "bench/ipc/ipc_channels.h"

namespace meshsim::bench {

std::unique_ptr<Mechanism> MakeShmRing();
std::unique_ptr<Mechanism> MakePipePair();
// `unix_path` empty: TCP on 127.0.0.1.
std::unique_ptr<Mechanism> MakeStreamSocket(std::string name, std::string unix_path);
// `kind`: "tcp", "ipc" (at `ipc_path`) or "inproc".
std::unique_ptr<Mechanism> MakeZmqPair(std::string kind, std::string ipc_path);
// With `keys_dir`, CURVE as a keyed cluster uses it.
std::unique_ptr<Mechanism> MakeRpcRoundTrip(std::string keys_dir);

}  // namespace meshsim::bench
