// libFuzzer: a data-plane frame from the network (ZeroMQ) or a ring, as a
// node decodes it: the header first, then the whole frame and its events,
// as a conservative node (anti-messages malformed) and as an optimistic one.
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/frame/frame_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  (void)meshsim::frame::FrameCodec::PeekHeader(bytes);
  const meshsim::frame::DecodeLimits limits{.lp_count = 4096, .mailbox_count = 16};
  double sum = 0;
  if (auto frame = meshsim::frame::FrameCodec::Decode(bytes, limits); frame.ok()) {
    frame->ForEachEvent([&](const meshsim::sim::Event& event) { sum += event.time + event.payload.size(); });
  }
  meshsim::frame::DecodeLimits optimistic = limits;
  optimistic.anti_messages = true;
  if (auto frame = meshsim::frame::FrameCodec::Decode(bytes, optimistic); frame.ok()) {
    frame->ForEachMessage([&](const meshsim::sim::Event& event, bool anti) {
      sum += event.time + event.payload.size() + (anti ? 1 : 0);
    });
  }
  (void)sum;
  return 0;
}
