#include "common/transport/shm/probe.h"

#include <unistd.h>

#include <random>

#include "common/strings/format.h"

namespace meshsim::transport::shm {
namespace {

std::string Hex(const uint8_t* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

}  // namespace

absl::StatusOr<ColocationProbe> ColocationProbe::Create(const std::string& what) {
  auto segment = ShmSegment::Create(SegmentName(what), sizeof(ProbeDescriptor));
  if (!segment.ok()) return segment.status();
  auto* probe = new (segment->data()) ProbeDescriptor{};
  std::random_device random;  // the kernel's entropy: tokens must not repeat across hosts
  for (auto& byte : probe->token) byte = static_cast<uint8_t>(random());
  probe->owner_pid = static_cast<uint32_t>(getpid());
  // Last, with release: a peer that sees the magic sees the token.
  std::atomic_ref<uint64_t>(probe->magic).store(kProbeMagic, std::memory_order_release);
  std::string token = Hex(probe->token, sizeof(probe->token));
  return ColocationProbe(std::move(*segment), std::move(token));
}

absl::StatusOr<ShmSegment> ColocationProbe::OpenPeer(const std::string& name, const std::string& token_hex) {
  if (!name.starts_with("/meshsim.") || name.find('/', 1) != std::string::npos) {
    return absl::InvalidArgumentError(StrCat("'", name, "' is not a meshsim probe name"));
  }
  auto segment = ShmSegment::Open(name);
  if (!segment.ok()) return segment.status();
  if (segment->size() < sizeof(ProbeDescriptor)) {
    return absl::FailedPreconditionError(StrCat("probe ", name, " is too small"));
  }
  ProbeDescriptor* probe = Descriptor(*segment);
  if (std::atomic_ref<uint64_t>(probe->magic).load(std::memory_order_acquire) != kProbeMagic ||
      Hex(probe->token, sizeof(probe->token)) != token_hex) {
    return absl::FailedPreconditionError(StrCat("probe ", name, " holds another token"));
  }
  return std::move(*segment);
}

}  // namespace meshsim::transport::shm
