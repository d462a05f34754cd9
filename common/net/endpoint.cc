#include "common/net/endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::net {

absl::StatusOr<TcpEndpoint> ParseTcpEndpoint(std::string_view endpoint) {
  constexpr std::string_view kScheme = "tcp://";
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("endpoint '", endpoint, "': ", why));
  };
  if (!endpoint.starts_with(kScheme)) return invalid("expected tcp://HOST:PORT");
  std::string_view rest = endpoint.substr(kScheme.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
    return invalid("expected tcp://HOST:PORT");
  }
  std::string_view host = rest.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return invalid("unbalanced [] around an IPv6 host");
    host = host.substr(1, host.size() - 2);
  }
  return TcpEndpoint{.host = std::string(host), .port = std::string(rest.substr(colon + 1))};
}

std::string FormatTcpEndpoint(const TcpEndpoint& endpoint) {
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  return ipv6 ? StrCat("tcp://[", endpoint.host, "]:", endpoint.port)
              : StrCat("tcp://", endpoint.host, ":", endpoint.port);
}

bool IsWildcardHost(std::string_view host) { return host == "0.0.0.0" || host == "*" || host == "::"; }

absl::StatusOr<std::string> LocalAddressToward(std::string_view endpoint) {
  MESHSIM_ASSIGN_OR_RETURN(TcpEndpoint target, ParseTcpEndpoint(endpoint));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (const int error = getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found); error != 0) {
    return absl::UnavailableError(StrCat("cannot resolve ", target.host, ": ", gai_strerror(error)));
  }
  absl::Status last = absl::UnavailableError(StrCat("no address for ", target.host));
  std::string local;
  for (addrinfo* candidate = found; candidate != nullptr && local.empty(); candidate = candidate->ai_next) {
    const int fd = socket(candidate->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    char text[INET6_ADDRSTRLEN] = {};
    if (connect(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      const void* raw = address.ss_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&address)->sin_addr);
      if (inet_ntop(address.ss_family, raw, text, sizeof(text)) != nullptr) local = text;
    } else {
      last = absl::UnavailableError(StrCat("no route to ", target.host, ": ", std::strerror(errno)));
    }
    close(fd);
  }
  freeaddrinfo(found);
  if (local.empty()) return last;
  return local;
}

absl::StatusOr<std::string> AdvertisedEndpoint(std::string_view bound, std::string_view advertise_host,
                                               std::string_view toward) {
  MESHSIM_ASSIGN_OR_RETURN(TcpEndpoint endpoint, ParseTcpEndpoint(bound));
  if (!advertise_host.empty()) {
    endpoint.host = std::string(advertise_host);
  } else if (IsWildcardHost(endpoint.host)) {
    absl::StatusOr<std::string> local = LocalAddressToward(toward);
    if (!local.ok()) return Annotate(local.status(), StrCat("finding the address to advertise for ", bound));
    endpoint.host = *std::move(local);
  } else {
    return std::string(bound);
  }
  return FormatTcpEndpoint(endpoint);
}

}  // namespace meshsim::net
