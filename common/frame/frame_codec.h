// Encoding and decoding of data-plane frames (format: frame_format.h).
//
// FrameWriter builds one frame in a buffer it owns and reuses, so encoding
// allocates only while the buffer grows to its working size.
// FrameCodec::Decode checks every length and field against the bytes it has
// before anything is read from the frame; a frame that passes can be
// iterated without further checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/frame/frame_format.h"
#include "meshsim/event.h"

namespace meshsim::frame {

struct FrameHeader {
  uint64_t run_id = 0;  // RunId(job, attempt)
  uint64_t window = 0;
  uint32_t source_rank = 0;
  uint32_t event_count = 0;
  double next_time = 0;
  uint32_t body_bytes = 0;
  uint32_t flags = 0;
};

// One packed event (the layout in frame_format.h), shared by frames and
// checkpoint parts. EncodeEvent writes kEventFixedBytes + payload bytes at
// `out` and returns that count; LoadEvent reads one back from bytes that
// ValidateEvent accepted and returns its size.
inline size_t EncodeEvent(const sim::Event& event, std::byte* out) {
  const auto payload_bytes = static_cast<uint16_t>(event.payload.size());
  std::memcpy(out + offset::kEventTime, &event.time, 8);
  std::memcpy(out + offset::kEventDstLp, &event.dst_lp, 4);
  std::memcpy(out + offset::kEventSrcLp, &event.src_lp, 4);
  std::memcpy(out + offset::kEventSrcSeq, &event.src_seq, 8);
  std::memcpy(out + offset::kEventPayloadBytes, &payload_bytes, 2);
  if (payload_bytes != 0) std::memcpy(out + kEventFixedBytes, event.payload.data(), payload_bytes);
  return kEventFixedBytes + payload_bytes;
}

// An anti-message: the key of the event it cancels, no payload.
inline size_t EncodeAnti(const sim::Event& event, std::byte* out) {
  std::memcpy(out + offset::kEventTime, &event.time, 8);
  std::memcpy(out + offset::kEventDstLp, &event.dst_lp, 4);
  std::memcpy(out + offset::kEventSrcLp, &event.src_lp, 4);
  std::memcpy(out + offset::kEventSrcSeq, &event.src_seq, 8);
  std::memcpy(out + offset::kEventPayloadBytes, &kAntiPayloadBytes, 2);
  return kEventFixedBytes;
}

// Sets `*anti` for an anti-message (whose payload is then empty).
inline size_t LoadEvent(const std::byte* p, sim::Event* event, bool* anti) {
  uint16_t payload_bytes;
  std::memcpy(&event->time, p + offset::kEventTime, 8);
  std::memcpy(&event->dst_lp, p + offset::kEventDstLp, 4);
  std::memcpy(&event->src_lp, p + offset::kEventSrcLp, 4);
  std::memcpy(&event->src_seq, p + offset::kEventSrcSeq, 8);
  std::memcpy(&payload_bytes, p + offset::kEventPayloadBytes, 2);
  *anti = payload_bytes == kAntiPayloadBytes;
  if (*anti) payload_bytes = 0;
  event->payload = {p + kEventFixedBytes, payload_bytes};
  return kEventFixedBytes + payload_bytes;
}

inline size_t LoadEvent(const std::byte* p, sim::Event* event) {
  bool anti;
  return LoadEvent(p, event, &anti);
}

struct DecodeLimits;

// Checks the event `index` starting at `p` against the bytes up to `end`
// and `limits`; returns its size. DATA_LOSS names the problem.
[[nodiscard]] absl::StatusOr<size_t> ValidateEvent(const std::byte* p, const std::byte* end,
                                                   const DecodeLimits& limits, uint64_t index);

class FrameWriter {
 public:
  // Starts a new frame, discarding any previous one.
  void Begin(uint64_t run_id, uint64_t window, uint32_t source_rank);

  // Appends one event. The payload must be at most sim::kMaxEventPayloadBytes.
  void Append(const sim::Event& event) {
    const size_t need = kEventFixedBytes + event.payload.size();
    if (size_ + need > buffer_.size()) Grow(size_ + need);
    size_ += EncodeEvent(event, buffer_.data() + size_);
    ++event_count_;
  }
  // Appends an anti-message for `event` (its payload is not sent).
  void AppendAnti(const sim::Event& event) {
    if (size_ + kEventFixedBytes > buffer_.size()) Grow(size_ + kEventFixedBytes);
    size_ += EncodeAnti(event, buffer_.data() + size_);
    ++event_count_;
  }

  // Patches the header and returns the finished frame, valid until the next
  // Begin().
  std::span<const std::byte> Finish(double next_time, uint32_t flags = 0);

  uint32_t event_count() const { return event_count_; }
  size_t size() const { return size_; }

 private:
  void Grow(size_t at_least);

  std::vector<std::byte> buffer_;  // capacity in use is buffer_.size()
  size_t size_ = 0;
  uint32_t event_count_ = 0;
};

// Checks applied while decoding, beyond the format itself.
struct DecodeLimits {
  uint64_t lp_count = 0;       // src_lp, and a dst_lp that is not a mailbox address, must be below this
  uint64_t mailbox_count = 0;  // a mailbox address's id must be below this
  size_t max_payload_bytes = sim::kMaxEventPayloadBytes;
  bool anti_messages = false;  // optimistic frames may hold them; elsewhere one is malformed
};

// A frame that passed validation. Does not own its bytes.
class FrameView {
 public:
  const FrameHeader& header() const { return header_; }

  // Calls fn(const sim::Event&) for each event in wire order (a frame
  // decoded without anti-messages allowed).
  template <typename Fn>
  void ForEachEvent(Fn&& fn) const {
    const std::byte* p = body_.data();
    sim::Event event;
    for (uint32_t i = 0; i < header_.event_count; ++i) {
      p += LoadEvent(p, &event);
      fn(static_cast<const sim::Event&>(event));
    }
  }
  // Calls fn(const sim::Event&, bool anti) for each event and anti-message
  // in wire order, which is the order they were sent in.
  template <typename Fn>
  void ForEachMessage(Fn&& fn) const {
    const std::byte* p = body_.data();
    sim::Event event;
    bool anti;
    for (uint32_t i = 0; i < header_.event_count; ++i) {
      p += LoadEvent(p, &event, &anti);
      fn(static_cast<const sim::Event&>(event), anti);
    }
  }

 private:
  friend class FrameCodec;
  FrameHeader header_;
  std::span<const std::byte> body_;
};

class FrameCodec {
 public:
  // Reads only the header; for routing a frame before full validation.
  // DATA_LOSS when the bytes are too short or the magic/version is wrong.
  [[nodiscard]] static absl::StatusOr<FrameHeader> PeekHeader(std::span<const std::byte> bytes);

  // Validates the whole frame. DATA_LOSS names the first problem found.
  [[nodiscard]] static absl::StatusOr<FrameView> Decode(std::span<const std::byte> bytes,
                                                        const DecodeLimits& limits);
};

}  // namespace meshsim::frame
