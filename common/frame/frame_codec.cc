#include "common/frame/frame_codec.h"

#include <cmath>

#include "common/frame/mailbox_address.h"
#include "common/frame/unaligned.h"
#include "common/strings/format.h"

namespace meshsim::frame {

void FrameWriter::Begin(uint64_t run_id, uint64_t window, uint32_t source_rank) {
  if (buffer_.size() < kHeaderBytes) Grow(kHeaderBytes);
  std::byte* h = buffer_.data();
  StoreUnaligned<uint32_t>(h + offset::kMagic, kMagic);
  StoreUnaligned<uint16_t>(h + offset::kVersion, kVersion);
  StoreUnaligned<uint16_t>(h + offset::kHeaderBytes, static_cast<uint16_t>(kHeaderBytes));
  StoreUnaligned<uint64_t>(h + offset::kRunId, run_id);
  StoreUnaligned<uint64_t>(h + offset::kWindow, window);
  StoreUnaligned<uint32_t>(h + offset::kSourceRank, source_rank);
  size_ = kHeaderBytes;
  event_count_ = 0;
}

std::span<const std::byte> FrameWriter::Finish(double next_time, uint32_t flags) {
  std::byte* h = buffer_.data();
  StoreUnaligned<uint32_t>(h + offset::kFlags, flags);
  StoreUnaligned<uint32_t>(h + offset::kEventCount, event_count_);
  StoreUnaligned<double>(h + offset::kNextTime, next_time);
  StoreUnaligned<uint32_t>(h + offset::kBodyBytes, static_cast<uint32_t>(size_ - kHeaderBytes));
  return {buffer_.data(), size_};
}

void FrameWriter::Grow(size_t at_least) {
  size_t capacity = buffer_.empty() ? 4096 : buffer_.size();
  while (capacity < at_least) capacity *= 2;
  buffer_.resize(capacity);
}

absl::StatusOr<FrameHeader> FrameCodec::PeekHeader(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderBytes) {
    return absl::DataLossError(
        StrCat("frame of ", bytes.size(), " bytes is shorter than its ", kHeaderBytes, "-byte header"));
  }
  const std::byte* h = bytes.data();
  if (LoadUnaligned<uint32_t>(h + offset::kMagic) != kMagic) {
    return absl::DataLossError("frame magic mismatch");
  }
  if (const auto version = LoadUnaligned<uint16_t>(h + offset::kVersion); version != kVersion) {
    return absl::DataLossError(StrCat("frame version ", version, " unsupported (expected ", kVersion, ")"));
  }
  if (const auto header_bytes = LoadUnaligned<uint16_t>(h + offset::kHeaderBytes);
      header_bytes != kHeaderBytes) {
    return absl::DataLossError(StrCat("frame header_bytes ", header_bytes, " (expected ", kHeaderBytes, ")"));
  }
  FrameHeader header;
  header.run_id = LoadUnaligned<uint64_t>(h + offset::kRunId);
  header.window = LoadUnaligned<uint64_t>(h + offset::kWindow);
  header.source_rank = LoadUnaligned<uint32_t>(h + offset::kSourceRank);
  header.event_count = LoadUnaligned<uint32_t>(h + offset::kEventCount);
  header.next_time = LoadUnaligned<double>(h + offset::kNextTime);
  header.body_bytes = LoadUnaligned<uint32_t>(h + offset::kBodyBytes);
  header.flags = LoadUnaligned<uint32_t>(h + offset::kFlags);
  return header;
}

absl::StatusOr<size_t> ValidateEvent(const std::byte* p, const std::byte* end, const DecodeLimits& limits,
                                     uint64_t i) {
  if (static_cast<size_t>(end - p) < kEventFixedBytes) {
    return absl::DataLossError(StrCat("truncated in event ", i));
  }
  auto payload_bytes = LoadUnaligned<uint16_t>(p + offset::kEventPayloadBytes);
  if (payload_bytes == kAntiPayloadBytes) {
    if (!limits.anti_messages) return absl::DataLossError(StrCat("event ", i, " is an anti-message"));
    payload_bytes = 0;
  } else if (payload_bytes > limits.max_payload_bytes) {
    return absl::DataLossError(
        StrCat("event ", i, " payload of ", payload_bytes, " bytes exceeds ", limits.max_payload_bytes));
  }
  if (static_cast<size_t>(end - p) < kEventFixedBytes + payload_bytes) {
    return absl::DataLossError(StrCat("truncated in payload of event ", i));
  }
  const auto time = LoadUnaligned<double>(p + offset::kEventTime);
  if (!std::isfinite(time)) {
    return absl::DataLossError(StrCat("event ", i, " time is not finite"));
  }
  const auto dst = LoadUnaligned<uint32_t>(p + offset::kEventDstLp);
  const auto src = LoadUnaligned<uint32_t>(p + offset::kEventSrcLp);
  if (src >= limits.lp_count) {
    return absl::DataLossError(
        StrCat("event ", i, " comes from lp ", src, " outside 0..", limits.lp_count - 1));
  }
  if (sim::IsMailboxAddress(dst)) {
    if (sim::MailboxOfAddress(dst) >= limits.mailbox_count) {
      return absl::DataLossError(StrCat("event ", i, " is for mailbox ", sim::MailboxOfAddress(dst),
                                        "; the job has ", limits.mailbox_count));
    }
  } else if (dst >= limits.lp_count) {
    return absl::DataLossError(StrCat("event ", i, " is for lp ", dst, " outside 0..", limits.lp_count - 1));
  }
  return kEventFixedBytes + payload_bytes;
}

absl::StatusOr<FrameView> FrameCodec::Decode(std::span<const std::byte> bytes, const DecodeLimits& limits) {
  auto header = PeekHeader(bytes);
  if (!header.ok()) return header.status();
  if (header->body_bytes != bytes.size() - kHeaderBytes) {
    return absl::DataLossError(StrCat("frame body_bytes ", header->body_bytes, " but ",
                                      bytes.size() - kHeaderBytes, " bytes follow the header"));
  }
  if (std::isnan(header->next_time)) return absl::DataLossError("frame next_time is NaN");
  if ((header->flags & ~kKnownFlags) != 0) {
    return absl::DataLossError(fmt::format("frame flags {:#x} hold unknown bits", header->flags));
  }
  if ((header->flags & kFlagOptimistic) == 0 && (header->flags & (kFlagCut | kFlagStop)) != 0) {
    return absl::DataLossError("frame has optimistic flags without kFlagOptimistic");
  }

  const std::byte* p = bytes.data() + kHeaderBytes;
  const std::byte* end = bytes.data() + bytes.size();
  for (uint32_t i = 0; i < header->event_count; ++i) {
    auto size = ValidateEvent(p, end, limits, i);
    if (!size.ok()) return size.status();
    p += *size;
  }
  if (p != end) {
    return absl::DataLossError(
        StrCat("frame has ", end - p, " bytes after its ", header->event_count, " events"));
  }
  FrameView view;
  view.header_ = *header;
  view.body_ = {bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes};
  return view;
}

}  // namespace meshsim::frame
