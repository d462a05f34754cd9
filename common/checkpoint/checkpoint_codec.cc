#include "common/checkpoint/checkpoint_codec.h"

#include <zlib.h>

#include <cmath>

#include "common/frame/unaligned.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::checkpoint {
namespace {

using frame::LoadUnaligned;
using frame::StoreUnaligned;

template <typename T>
void Append(std::vector<std::byte>& out, T value) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  StoreUnaligned(out.data() + at, value);
}

uLong Crc32Extend(uLong crc, std::span<const std::byte> bytes) {
  // zlib takes a 32-bit length; parts may be larger.
  constexpr size_t kStep = 1u << 30;
  for (size_t at = 0; at < bytes.size(); at += kStep) {
    const size_t n = std::min(kStep, bytes.size() - at);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
  }
  return crc;
}

uint32_t Crc32(std::span<const std::byte> bytes) {
  return static_cast<uint32_t>(Crc32Extend(crc32(0L, Z_NULL, 0), bytes));
}

}  // namespace

CheckpointPartWriter::CheckpointPartWriter(const PartHeader& header) {
  bytes_.resize(kHeaderBytes);
  std::byte* h = bytes_.data();
  StoreUnaligned<uint32_t>(h + offset::kMagic, kMagic);
  StoreUnaligned<uint16_t>(h + offset::kVersion, kVersion);
  StoreUnaligned<uint16_t>(h + offset::kHeaderBytes, static_cast<uint16_t>(kHeaderBytes));
  StoreUnaligned<uint64_t>(h + offset::kJobId, header.job_id);
  StoreUnaligned<uint32_t>(h + offset::kAttempt, header.attempt);
  StoreUnaligned<uint32_t>(h + offset::kRank, header.rank);
  StoreUnaligned<uint32_t>(h + offset::kRanks, header.ranks);
  StoreUnaligned<uint32_t>(h + offset::kStateBytes, header.state_bytes);
  StoreUnaligned<uint64_t>(h + offset::kWindow, header.window);
  StoreUnaligned<double>(h + offset::kNextTime, header.next_time);
  StoreUnaligned<uint64_t>(h + offset::kLpCount, header.lp_count);
  StoreUnaligned<uint64_t>(h + offset::kMailboxPosts, header.mailbox_posts);
  StoreUnaligned<uint64_t>(h + offset::kMailboxDeliveries, header.mailbox_deliveries);
  StoreUnaligned<uint64_t>(h + offset::kMailboxRemoteEvents, header.mailbox_remote_events);
}

void CheckpointPartWriter::AddLp(const LpRecord& record) {
  const size_t at = bytes_.size();
  bytes_.resize(at + kLpFixedBytes + record.state.size());
  std::byte* p = bytes_.data() + at;
  StoreUnaligned<uint32_t>(p + offset::kLp, record.lp);
  StoreUnaligned<uint64_t>(p + offset::kRngState, record.rng_state);
  StoreUnaligned<uint64_t>(p + offset::kRngGamma, record.rng_gamma);
  StoreUnaligned<uint64_t>(p + offset::kSent, record.sent);
  StoreUnaligned<uint64_t>(p + offset::kProcessed, record.processed);
  StoreUnaligned<uint32_t>(p + offset::kStateLen, static_cast<uint32_t>(record.state.size()));
  if (!record.state.empty()) std::memcpy(p + kLpFixedBytes, record.state.data(), record.state.size());
  ++lp_records_;
}

void CheckpointPartWriter::AddEvent(const sim::Event& event) {
  const size_t at = bytes_.size();
  bytes_.resize(at + frame::kEventFixedBytes + event.payload.size());
  frame::EncodeEvent(event, bytes_.data() + at);
  ++event_records_;
}

std::vector<std::byte> CheckpointPartWriter::Finish() && {
  StoreUnaligned<uint64_t>(bytes_.data() + offset::kLpRecords, lp_records_);
  StoreUnaligned<uint64_t>(bytes_.data() + offset::kEventRecords, event_records_);
  const uint32_t crc = Crc32(bytes_);
  Append<uint32_t>(bytes_, crc);
  Append<uint32_t>(bytes_, kEndMagic);
  return std::move(bytes_);
}

PartVerifier::PartVerifier() : crc_(crc32(0L, Z_NULL, 0)) {}

void PartVerifier::Checksum(std::span<const std::byte> bytes) {
  if (fed_ < kHeaderBytes) {
    const size_t n = std::min<size_t>(kHeaderBytes - fed_, bytes.size());
    std::memcpy(header_.data() + fed_, bytes.data(), n);
  }
  fed_ += bytes.size();
  crc_ = Crc32Extend(crc_, bytes);
}

void PartVerifier::Feed(std::span<const std::byte> piece) {
  // What was held back, and all of the piece but its last kTrailerBytes,
  // are not the trailer.
  if (piece.size() >= kTrailerBytes) {
    Checksum(std::span(tail_).first(tail_size_));
    Checksum(piece.first(piece.size() - kTrailerBytes));
    std::memcpy(tail_.data(), piece.data() + piece.size() - kTrailerBytes, kTrailerBytes);
    tail_size_ = kTrailerBytes;
    return;
  }
  std::array<std::byte, 2 * kTrailerBytes> joined;
  std::memcpy(joined.data(), tail_.data(), tail_size_);
  std::memcpy(joined.data() + tail_size_, piece.data(), piece.size());
  const size_t size = tail_size_ + piece.size();
  const size_t keep = std::min(size, kTrailerBytes);
  Checksum(std::span(joined).first(size - keep));
  std::memcpy(tail_.data(), joined.data() + size - keep, keep);
  tail_size_ = keep;
}

absl::StatusOr<PartHeader> PartVerifier::Finish() const {
  const uint64_t size = fed_ + tail_size_;
  if (size < kHeaderBytes + kTrailerBytes) {
    return absl::DataLossError(StrCat("checkpoint part of ", size, " bytes is too short"));
  }
  const std::byte* h = header_.data();
  const std::byte* trailer = tail_.data();
  if (LoadUnaligned<uint32_t>(h + offset::kMagic) != kMagic ||
      LoadUnaligned<uint32_t>(trailer + 4) != kEndMagic) {
    return absl::DataLossError("checkpoint part magic mismatch (not a part, or truncated)");
  }
  if (const auto version = LoadUnaligned<uint16_t>(h + offset::kVersion); version != kVersion) {
    return absl::DataLossError(StrCat("checkpoint part version ", version, " unsupported"));
  }
  if (LoadUnaligned<uint16_t>(h + offset::kHeaderBytes) != kHeaderBytes) {
    return absl::DataLossError("checkpoint part header size mismatch");
  }
  const uint32_t stored = LoadUnaligned<uint32_t>(trailer);
  const auto computed = static_cast<uint32_t>(crc_);
  if (stored != computed) {
    return absl::DataLossError(
        fmt::format("checkpoint part checksum mismatch: stored {:08x}, computed {:08x}", stored, computed));
  }
  PartHeader header;
  header.job_id = LoadUnaligned<uint64_t>(h + offset::kJobId);
  header.attempt = LoadUnaligned<uint32_t>(h + offset::kAttempt);
  header.rank = LoadUnaligned<uint32_t>(h + offset::kRank);
  header.ranks = LoadUnaligned<uint32_t>(h + offset::kRanks);
  header.state_bytes = LoadUnaligned<uint32_t>(h + offset::kStateBytes);
  header.window = LoadUnaligned<uint64_t>(h + offset::kWindow);
  header.next_time = LoadUnaligned<double>(h + offset::kNextTime);
  header.lp_count = LoadUnaligned<uint64_t>(h + offset::kLpCount);
  header.lp_records = LoadUnaligned<uint64_t>(h + offset::kLpRecords);
  header.event_records = LoadUnaligned<uint64_t>(h + offset::kEventRecords);
  header.mailbox_posts = LoadUnaligned<uint64_t>(h + offset::kMailboxPosts);
  header.mailbox_deliveries = LoadUnaligned<uint64_t>(h + offset::kMailboxDeliveries);
  header.mailbox_remote_events = LoadUnaligned<uint64_t>(h + offset::kMailboxRemoteEvents);
  if (header.ranks == 0 || header.rank >= header.ranks) {
    return absl::DataLossError(StrCat("checkpoint part rank ", header.rank, " of ", header.ranks));
  }
  if (std::isnan(header.next_time)) return absl::DataLossError("checkpoint part next_time is NaN");
  return header;
}

absl::StatusOr<PartHeader> VerifyCheckpointPart(std::span<const std::byte> bytes) {
  PartVerifier verifier;
  verifier.Feed(bytes);
  return verifier.Finish();
}

absl::StatusOr<CheckpointPart> CheckpointPart::Parse(std::span<const std::byte> bytes,
                                                     size_t max_payload_bytes) {
  auto header = VerifyCheckpointPart(bytes);
  if (!header.ok()) return header.status();
  CheckpointPart part;
  part.header_ = *header;
  const std::byte* begin = bytes.data() + kHeaderBytes;
  const std::byte* end = bytes.data() + bytes.size() - kTrailerBytes;
  const std::byte* p = begin;
  int64_t previous_lp = -1;
  for (uint64_t i = 0; i < header->lp_records; ++i) {
    if (static_cast<size_t>(end - p) < kLpFixedBytes) {
      return absl::DataLossError(StrCat("checkpoint part truncated in lp record ", i));
    }
    const auto lp = LoadUnaligned<uint32_t>(p + offset::kLp);
    const auto state_len = LoadUnaligned<uint32_t>(p + offset::kStateLen);
    if (lp >= header->lp_count || static_cast<int64_t>(lp) <= previous_lp) {
      return absl::DataLossError(
          StrCat("checkpoint part lp record ", i, " is for lp ", lp, " (out of range or out of order)"));
    }
    if (state_len > kMaxStateBytes || static_cast<size_t>(end - p) < kLpFixedBytes + state_len) {
      return absl::DataLossError(
          StrCat("checkpoint part lp ", lp, ": state of ", state_len, " bytes overruns"));
    }
    if ((LoadUnaligned<uint64_t>(p + offset::kRngGamma) & 1) == 0) {
      return absl::DataLossError(StrCat("checkpoint part lp ", lp, ": random stream gamma is even"));
    }
    previous_lp = lp;
    p += kLpFixedBytes + state_len;
  }
  part.lps_ = {begin, static_cast<size_t>(p - begin)};
  const std::byte* events = p;
  // No mailbox addresses: queued mailbox events were fanned out already.
  const frame::DecodeLimits limits{header->lp_count, 0, max_payload_bytes};
  for (uint64_t i = 0; i < header->event_records; ++i) {
    auto size = frame::ValidateEvent(p, end, limits, i);
    if (!size.ok()) return Annotate(size.status(), "checkpoint part");
    p += *size;
  }
  if (p != end) {
    return absl::DataLossError(StrCat("checkpoint part has ", end - p, " bytes after its records"));
  }
  part.events_ = {events, static_cast<size_t>(p - events)};
  return part;
}

}  // namespace meshsim::checkpoint
