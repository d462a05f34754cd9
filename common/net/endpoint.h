// ZeroMQ TCP endpoints ("tcp://host:port"): parsing, and the address a
// process bound to every interface should give others to reach it.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace meshsim::net {

struct TcpEndpoint {
  std::string host;  // without IPv6 brackets
  std::string port;
};

// INVALID_ARGUMENT naming the endpoint unless it is tcp://HOST:PORT (an
// IPv6 host in brackets).
[[nodiscard]] absl::StatusOr<TcpEndpoint> ParseTcpEndpoint(std::string_view endpoint);
std::string FormatTcpEndpoint(const TcpEndpoint& endpoint);

// 0.0.0.0, *, :: — a bind address no peer can connect to.
bool IsWildcardHost(std::string_view host);

// The local address this host would send from to reach `endpoint`'s host
// (resolved by name), found by connecting a UDP socket, which sends nothing.
[[nodiscard]] absl::StatusOr<std::string> LocalAddressToward(std::string_view endpoint);

// What to tell peers for a socket bound at `bound`: `bound` with its host
// replaced by `advertise_host` when that is given, else by the local address
// toward `toward` when `bound` is a wildcard, else `bound` unchanged.
[[nodiscard]] absl::StatusOr<std::string> AdvertisedEndpoint(std::string_view bound,
                                                             std::string_view advertise_host,
                                                             std::string_view toward);

}  // namespace meshsim::net
