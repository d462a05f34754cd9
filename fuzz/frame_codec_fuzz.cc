// libFuzzer: a data-plane frame from the network (ZeroMQ) or a ring, as a
// node decodes it: the header first, then the whole frame and its events.
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/frame/frame_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  (void)meshsim::frame::FrameCodec::PeekHeader(bytes);
  const meshsim::frame::DecodeLimits limits{.lp_count = 4096, .mailbox_count = 16};
  auto frame = meshsim::frame::FrameCodec::Decode(bytes, limits);
  if (frame.ok()) {
    double sum = 0;
    frame->ForEachEvent([&](const meshsim::sim::Event& event) { sum += event.time + event.payload.size(); });
    (void)sum;
  }
  return 0;
}
