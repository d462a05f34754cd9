// Encoding and decoding of checkpoint parts (format: checkpoint_format.h).
//
// CheckpointPartWriter builds a part in memory: the header, then every LP
// record, then every event record, then the checksum trailer.
// CheckpointPart::Parse checks the checksum and every length and field
// before anything is read; a part that passes can be iterated without
// further checks. VerifyCheckpointPart checks only the checksum and header,
// for a store that does not know the model; PartVerifier does the same for
// a part fed in pieces (as it arrives, or as it is read from disk), so a
// store never holds a part whole.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_format.h"
#include "common/frame/frame_codec.h"
#include "meshsim/event.h"

namespace meshsim::checkpoint {

struct PartHeader {
  uint64_t job_id = 0;
  uint32_t attempt = 0;
  uint32_t rank = 0;
  uint32_t ranks = 0;
  uint32_t state_bytes = 0;
  uint64_t window = 0;
  double next_time = 0;
  uint64_t lp_count = 0;
  uint64_t lp_records = 0;
  uint64_t event_records = 0;
  uint64_t mailbox_posts = 0;
  uint64_t mailbox_deliveries = 0;
  uint64_t mailbox_remote_events = 0;
};

struct LpRecord {
  sim::LpId lp = 0;
  uint64_t rng_state = 0;
  uint64_t rng_gamma = 0;
  uint64_t sent = 0;
  uint64_t processed = 0;
  std::span<const std::byte> state;
};

class CheckpointPartWriter {
 public:
  // Starts a part; the record counts in `header` are filled by Finish().
  explicit CheckpointPartWriter(const PartHeader& header);

  // Room for `bytes` more, so a large part grows once, not record by record.
  void Reserve(size_t bytes) { bytes_.reserve(bytes_.size() + bytes); }
  // Every LP record comes before the first event record.
  void AddLp(const LpRecord& record);
  void AddEvent(const sim::Event& event);
  // Patches the counts, appends the trailer and hands the bytes over.
  std::vector<std::byte> Finish() &&;

 private:
  std::vector<std::byte> bytes_;
  uint64_t lp_records_ = 0;
  uint64_t event_records_ = 0;
};

// A part that passed Parse(). Does not own its bytes.
class CheckpointPart {
 public:
  // DATA_LOSS names the first problem: a bad checksum, a length past the
  // end, an LP or event outside `lp_count`, a payload over the limit.
  [[nodiscard]] static absl::StatusOr<CheckpointPart> Parse(std::span<const std::byte> bytes,
                                                            size_t max_payload_bytes);

  const PartHeader& header() const { return header_; }

  template <typename Fn>
  void ForEachLp(Fn&& fn) const {
    const std::byte* p = lps_.data();
    for (uint64_t i = 0; i < header_.lp_records; ++i) p += LoadLp(p, fn);
  }
  template <typename Fn>
  void ForEachEvent(Fn&& fn) const {
    const std::byte* p = events_.data();
    sim::Event event;
    for (uint64_t i = 0; i < header_.event_records; ++i) {
      p += frame::LoadEvent(p, &event);
      fn(static_cast<const sim::Event&>(event));
    }
  }

 private:
  template <typename Fn>
  static size_t LoadLp(const std::byte* p, Fn& fn) {
    LpRecord record;
    uint32_t state_len;
    std::memcpy(&record.lp, p + offset::kLp, 4);
    std::memcpy(&record.rng_state, p + offset::kRngState, 8);
    std::memcpy(&record.rng_gamma, p + offset::kRngGamma, 8);
    std::memcpy(&record.sent, p + offset::kSent, 8);
    std::memcpy(&record.processed, p + offset::kProcessed, 8);
    std::memcpy(&state_len, p + offset::kStateLen, 4);
    record.state = {p + kLpFixedBytes, state_len};
    fn(static_cast<const LpRecord&>(record));
    return kLpFixedBytes + state_len;
  }

  PartHeader header_;
  std::span<const std::byte> lps_;
  std::span<const std::byte> events_;
};

// Checks a part's checksum and header from its bytes fed in order, in
// pieces of any size. The checksum covers every byte but the trailer, which
// is not known to be the trailer until the part ends: the last
// kTrailerBytes fed are held back.
class PartVerifier {
 public:
  PartVerifier();
  void Feed(std::span<const std::byte> piece);
  // DATA_LOSS when what was fed is not a whole, undamaged part.
  [[nodiscard]] absl::StatusOr<PartHeader> Finish() const;
  uint64_t bytes_fed() const { return fed_; }

 private:
  void Checksum(std::span<const std::byte> bytes);

  uint64_t crc_;
  uint64_t fed_ = 0;
  std::array<std::byte, kHeaderBytes> header_{};
  std::array<std::byte, kTrailerBytes> tail_{};  // the last bytes fed
  size_t tail_size_ = 0;
};

// Checks a whole part's checksum and header. DATA_LOSS when they are bad.
[[nodiscard]] absl::StatusOr<PartHeader> VerifyCheckpointPart(std::span<const std::byte> bytes);

}  // namespace meshsim::checkpoint
