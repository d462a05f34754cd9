#include "common/frame/frame_codec.h"

#include <cstring>
#include <limits>
#include <tuple>
#include <vector>

#include "common/frame/mailbox_address.h"
#include "gtest/gtest.h"

namespace meshsim::frame {
namespace {

std::vector<std::byte> SampleFrame() {
  FrameWriter writer;
  writer.Begin(/*job_id=*/77, /*window=*/5, /*source_rank=*/2);
  const std::vector<std::byte> payload = {std::byte{1}, std::byte{2}, std::byte{3}};
  writer.Append({1.5, 10, 3, 40, {}});
  writer.Append({2.25, 11, 4, 41, payload});
  writer.Append({3.0, 12, 5, 42, {}});
  const auto frame = writer.Finish(/*next_time=*/1.25);
  return {frame.begin(), frame.end()};
}

const DecodeLimits kLimits{.lp_count = 100, .mailbox_count = 3, .max_payload_bytes = 16};

TEST(FrameCodecTest, RoundTripKeepsHeaderAndEvents) {
  const auto bytes = SampleFrame();
  auto view = FrameCodec::Decode(bytes, kLimits);
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ(view->header().run_id, 77u);
  EXPECT_EQ(view->header().window, 5u);
  EXPECT_EQ(view->header().source_rank, 2u);
  EXPECT_EQ(view->header().event_count, 3u);
  EXPECT_EQ(view->header().next_time, 1.25);
  std::vector<sim::Event> events;
  std::vector<std::vector<std::byte>> payloads;
  view->ForEachEvent([&](const sim::Event& e) {
    events.push_back(e);
    payloads.emplace_back(e.payload.begin(), e.payload.end());
  });
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].time, 2.25);
  EXPECT_EQ(events[1].dst_lp, 11u);
  EXPECT_EQ(events[1].src_lp, 4u);
  EXPECT_EQ(events[1].src_seq, 41u);
  EXPECT_EQ(payloads[1], (std::vector<std::byte>{std::byte{1}, std::byte{2}, std::byte{3}}));
  EXPECT_TRUE(payloads[0].empty());
}

TEST(FrameCodecTest, EmptyFrameRoundTrips) {
  FrameWriter writer;
  writer.Begin(1, 0, 0);
  const auto frame = writer.Finish(std::numeric_limits<double>::infinity());
  auto view = FrameCodec::Decode(frame, kLimits);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->header().event_count, 0u);
  EXPECT_EQ(frame.size(), kHeaderBytes);
}

TEST(FrameCodecTest, EveryTruncationIsRejected) {
  const auto bytes = SampleFrame();
  for (size_t size = 0; size < bytes.size(); ++size) {
    auto view = FrameCodec::Decode(std::span(bytes.data(), size), kLimits);
    EXPECT_TRUE(absl::IsDataLoss(view.status())) << "accepted a frame cut to " << size << " bytes";
  }
}

TEST(FrameCodecTest, TruncationWithAConsistentBodyLengthIsRejected) {
  // Cut inside the events and patch body_bytes to match, so only the event
  // walk can notice.
  auto bytes = SampleFrame();
  for (size_t size = kHeaderBytes + 1; size < bytes.size(); ++size) {
    std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<long>(size));
    const auto body = static_cast<uint32_t>(size - kHeaderBytes);
    std::memcpy(cut.data() + offset::kBodyBytes, &body, 4);
    EXPECT_TRUE(absl::IsDataLoss(FrameCodec::Decode(cut, kLimits).status())) << size;
  }
}

template <typename T>
std::vector<std::byte> Patched(size_t at, T value) {
  auto bytes = SampleFrame();
  std::memcpy(bytes.data() + at, &value, sizeof(T));
  return bytes;
}

TEST(FrameCodecTest, CorruptFieldsAreRejected) {
  const size_t first_event = kHeaderBytes;
  struct Case {
    const char* what;
    std::vector<std::byte> bytes;
  } cases[] = {
      {"magic", Patched<uint32_t>(offset::kMagic, 0xdeadbeef)},
      {"version", Patched<uint16_t>(offset::kVersion, 99)},
      {"header size", Patched<uint16_t>(offset::kHeaderBytes, 40)},
      {"body length", Patched<uint32_t>(offset::kBodyBytes, 1)},
      {"event count too high", Patched<uint32_t>(offset::kEventCount, 4)},
      {"event count too low", Patched<uint32_t>(offset::kEventCount, 2)},
      {"NaN next time", Patched<double>(offset::kNextTime, std::numeric_limits<double>::quiet_NaN())},
      {"dst out of range", Patched<uint32_t>(first_event + offset::kEventDstLp, 100)},
      {"mailbox out of range", Patched<uint32_t>(first_event + offset::kEventDstLp, sim::MailboxAddress(3))},
      {"src is a mailbox address",
       Patched<uint32_t>(first_event + offset::kEventSrcLp, sim::MailboxAddress(0))},
      {"src out of range", Patched<uint32_t>(first_event + offset::kEventSrcLp, 1000)},
      {"infinite time",
       Patched<double>(first_event + offset::kEventTime, std::numeric_limits<double>::infinity())},
      {"payload over the limit", Patched<uint16_t>(first_event + offset::kEventPayloadBytes, 17)},
      {"payload past the end", Patched<uint16_t>(first_event + offset::kEventPayloadBytes, 16)},
      {"unknown flag", Patched<uint32_t>(offset::kFlags, 1u << 9)},
      {"cut without optimistic", Patched<uint32_t>(offset::kFlags, kFlagCut)},
      {"stop without optimistic", Patched<uint32_t>(offset::kFlags, kFlagStop | kFlagCheckpoint)},
  };
  for (const auto& c : cases) {
    auto view = FrameCodec::Decode(c.bytes, kLimits);
    EXPECT_TRUE(absl::IsDataLoss(view.status())) << c.what << " was accepted";
  }
}

TEST(FrameCodecTest, MailboxAddressesRoundTripWithinTheJobsMailboxes) {
  FrameWriter writer;
  writer.Begin(1, 2, 0);
  writer.Append({1.0, sim::MailboxAddress(2), 7, 0, {}});
  const auto frame = writer.Finish(1.0);
  auto view = FrameCodec::Decode(frame, kLimits);
  ASSERT_TRUE(view.ok()) << view.status();
  view->ForEachEvent([](const sim::Event& e) {
    EXPECT_TRUE(sim::IsMailboxAddress(e.dst_lp));
    EXPECT_EQ(sim::MailboxOfAddress(e.dst_lp), 2u);
  });
  DecodeLimits no_mailboxes = kLimits;
  no_mailboxes.mailbox_count = 0;
  EXPECT_TRUE(absl::IsDataLoss(FrameCodec::Decode(frame, no_mailboxes).status()));
}

// Anti-messages travel between events in the order they were sent, carry
// only their event's key, and are malformed where the receiver does not
// run the optimistic protocol.
TEST(FrameCodecTest, AntiMessagesKeepTheirPlaceAmongEvents) {
  const std::vector<std::byte> payload = {std::byte{9}, std::byte{8}};
  FrameWriter writer;
  writer.Begin(1, 7, 1);
  writer.Append({1.0, 10, 3, 40, payload});
  writer.AppendAnti({1.0, 10, 3, 40, payload});
  writer.Append({2.0, sim::MailboxAddress(1), 4, 5, {}});
  writer.AppendAnti({2.0, sim::MailboxAddress(1), 4, 5, {}});
  const auto frame = writer.Finish(0.5, kFlagOptimistic | kFlagCut);
  EXPECT_EQ(frame.size(), kHeaderBytes + 4 * kEventFixedBytes + payload.size());

  DecodeLimits optimistic = kLimits;
  optimistic.anti_messages = true;
  auto view = FrameCodec::Decode(frame, optimistic);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->header().flags, kFlagOptimistic | kFlagCut);
  std::vector<std::tuple<double, sim::LpId, uint64_t, size_t, bool>> got;
  view->ForEachMessage([&](const sim::Event& e, bool anti) {
    got.emplace_back(e.time, e.dst_lp, e.src_seq, e.payload.size(), anti);
  });
  const std::vector<std::tuple<double, sim::LpId, uint64_t, size_t, bool>> want = {
      {1.0, 10, 40, 2, false},
      {1.0, 10, 40, 0, true},
      {2.0, sim::MailboxAddress(1), 5, 0, false},
      {2.0, sim::MailboxAddress(1), 5, 0, true}};
  EXPECT_EQ(got, want);
  EXPECT_TRUE(absl::IsDataLoss(FrameCodec::Decode(frame, kLimits).status()))
      << "a conservative receiver took an anti-message";
}

TEST(FrameCodecTest, TrailingBytesAreRejected) {
  auto bytes = SampleFrame();
  bytes.push_back(std::byte{0});
  const auto body = static_cast<uint32_t>(bytes.size() - kHeaderBytes);
  std::memcpy(bytes.data() + offset::kBodyBytes, &body, 4);
  EXPECT_TRUE(absl::IsDataLoss(FrameCodec::Decode(bytes, kLimits).status()));
}

TEST(FrameCodecTest, WriterReusesItsBufferAcrossFrames) {
  FrameWriter writer;
  for (int round = 0; round < 3; ++round) {
    writer.Begin(1, static_cast<uint64_t>(round), 0);
    for (uint32_t i = 0; i < 1000; ++i) writer.Append({1.0, i % 100, 0, i, {}});
    auto view = FrameCodec::Decode(writer.Finish(2.0), kLimits);
    ASSERT_TRUE(view.ok());
    EXPECT_EQ(view->header().event_count, 1000u);
    EXPECT_EQ(view->header().window, static_cast<uint64_t>(round));
  }
}

}  // namespace
}  // namespace meshsim::frame
