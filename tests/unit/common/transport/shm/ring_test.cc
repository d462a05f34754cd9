#include "common/transport/shm/ring.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "common/transport/shm/probe.h"
#include "gtest/gtest.h"
#include "meshsim/rng.h"

namespace meshsim::transport::shm {
namespace {

std::string UniqueName(const std::string& what) {
  static int counter = 0;
  return SegmentName(what + std::to_string(counter++));
}

std::vector<std::byte> Message(size_t size, uint8_t fill) {
  return std::vector<std::byte>(size, std::byte{fill});
}

const auto kNeverStop = [] { return false; };

class RingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto probe = ColocationProbe::Create();
    ASSERT_TRUE(probe.ok()) << probe.status().message();
    probe_.emplace(std::move(*probe));
    name_ = UniqueName("ring");
    auto writer = RingWriter::Create(name_, 4096, 7);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    writer_.emplace(std::move(*writer));
    auto reader = RingReader::Open(name_, 7);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    reader_.emplace(std::move(*reader));
  }
  Doorbell doorbell() { return probe_->doorbell(); }

  std::optional<ColocationProbe> probe_;
  std::string name_;
  std::optional<RingWriter> writer_;
  std::optional<RingReader> reader_;
};

TEST_F(RingTest, MessagesArriveWholeAndInOrder) {
  Doorbell bell = doorbell();
  for (uint8_t i = 1; i <= 20; ++i) ASSERT_TRUE(writer_->Write(Message(i * 10, i), bell, kNeverStop).ok());
  std::vector<std::byte> out;
  for (uint8_t i = 1; i <= 20; ++i) {
    auto got = reader_->TryRead(&out);
    ASSERT_TRUE(got.ok() && *got) << i;
    EXPECT_EQ(out, Message(i * 10, i));
  }
  auto empty = reader_->TryRead(&out);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(*empty);
}

TEST_F(RingTest, DoorbellWaitSaysHowFarItWent) {
  using namespace std::chrono_literals;
  Doorbell bell = doorbell();
  // Already there: found while polling.
  EXPECT_EQ(bell.Wait([] { return true; }, 1s), WaitPhase::kPolled);
  // Never there: polls, yields the core, then sleeps out the timeout.
  EXPECT_EQ(bell.Wait([] { return false; }, 0ms), WaitPhase::kSlept);
  // A writer that publishes once the reader has announced its sleep rings
  // the doorbell (bumps its signal) and the reader wakes to the message.
  auto segment = ShmSegment::Open(probe_->name());
  ASSERT_TRUE(segment.ok()) << segment.status().message();
  ProbeDescriptor* descriptor = ColocationProbe::Descriptor(*segment);
  const uint32_t signal_before = descriptor->signal.load();
  std::thread writer([&] {
    while (descriptor->reader_sleeping.load() == 0) std::this_thread::yield();
    Doorbell writer_bell = doorbell();
    EXPECT_TRUE(writer_->Write(Message(8, 1), writer_bell, kNeverStop).ok());
  });
  EXPECT_EQ(bell.Wait([&] { return reader_->HasData(); }, 60s), WaitPhase::kSlept);
  writer.join();
  EXPECT_TRUE(reader_->HasData());
  EXPECT_NE(descriptor->signal.load(), signal_before) << "the writer did not ring for a sleeping reader";
}

TEST_F(RingTest, EmptyMessageRoundTrips) {
  Doorbell bell = doorbell();
  ASSERT_TRUE(writer_->Write({}, bell, kNeverStop).ok());
  std::vector<std::byte> out = Message(3, 1);
  auto got = reader_->TryRead(&out);
  ASSERT_TRUE(got.ok() && *got);
  EXPECT_TRUE(out.empty());
}

TEST_F(RingTest, MessageLargerThanTheRingIsSplitAndReassembled) {
  std::vector<std::byte> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = std::byte(i * 7);
  std::vector<std::byte> out;
  // The writer blocks while the ring is full; a reader thread drains it.
  std::thread reader([&] {
    Doorbell bell = doorbell();
    for (;;) {
      auto got = reader_->TryRead(&out);
      ASSERT_TRUE(got.ok());
      if (*got) return;
      bell.Wait([&] { return reader_->HasData(); }, std::chrono::milliseconds(10));
    }
  });
  Doorbell bell = doorbell();
  ASSERT_TRUE(writer_->Write(big, bell, kNeverStop).ok());
  reader.join();
  EXPECT_EQ(out, big);
}

TEST_F(RingTest, ReserveCommitsInPlaceAndRejectsOversizedRecords) {
  Doorbell bell = doorbell();
  auto space = writer_->Reserve(5, kNeverStop);
  ASSERT_TRUE(space.ok());
  std::memcpy(space->data(), "hello", 5);
  writer_->Commit(kFirst | kLast, bell);
  std::vector<std::byte> out;
  ASSERT_TRUE(*reader_->TryRead(&out));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()), out.size()), "hello");
  EXPECT_TRUE(
      absl::IsInvalidArgument(writer_->Reserve(writer_->max_record_bytes() + 1, kNeverStop).status()));
}

TEST_F(RingTest, FullRingMakesTheWriterWaitUntilStopped) {
  Doorbell bell = doorbell();
  // Nobody reads: the writer fills the ring, then waits until told to stop.
  int checks = 0;
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    status = writer_->Write(Message(500, 1), bell, [&] { return ++checks > 3; });
  }
  EXPECT_TRUE(absl::IsAborted(status)) << status;
  EXPECT_LE(writer_->occupancy(), writer_->capacity());
}

TEST_F(RingTest, ScribbledPositionsAndRecordsAreDetected) {
  Doorbell bell = doorbell();
  ASSERT_TRUE(writer_->Write(Message(40, 2), bell, kNeverStop).ok());
  auto* d = reinterpret_cast<RingDescriptor*>(reader_->segment().data());
  std::vector<std::byte> out;

  d->write_pos.store(1 << 30);  // far past anything the ring could hold
  EXPECT_TRUE(absl::IsDataLoss(reader_->TryRead(&out).status()));
  d->write_pos.store(48);

  uint32_t bad_length = 1 << 20;  // the first record claims a megabyte
  std::memcpy(reader_->segment().data() + kRingHeaderBytes, &bad_length, 4);
  EXPECT_TRUE(absl::IsDataLoss(reader_->TryRead(&out).status()));

  d->magic = 0;
  EXPECT_TRUE(absl::IsDataLoss(reader_->TryRead(&out).status()));
}

TEST_F(RingTest, WriterDetectsAScribbledReadPosition) {
  auto* d = reinterpret_cast<RingDescriptor*>(reader_->segment().data());
  d->read_pos.store(12345);  // ahead of anything written
  Doorbell bell = doorbell();
  // The writer consults the reader's position once its cached view runs
  // out of space: within one ring's worth of writes.
  absl::Status status;
  for (int i = 0; i < 20 && status.ok(); ++i) status = writer_->Write(Message(500, 1), bell, kNeverStop);
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
}

TEST(RingOpenTest, OpeningSomethingThatIsNotARingFails) {
  const std::string name = UniqueName("junk");
  auto junk = ShmSegment::Create(name, 8192);
  ASSERT_TRUE(junk.ok());
  std::memset(junk->data(), 0x5a, junk->size());  // something else's bytes
  EXPECT_TRUE(absl::IsDataLoss(RingReader::Open(name, 1).status()));
  EXPECT_TRUE(absl::IsNotFound(RingReader::Open(UniqueName("missing"), 1).status()));
}

TEST(RingOpenTest, ASegmentOthersCanOpenIsNotTrusted) {
  const std::string name = UniqueName("loose");
  auto loose = ShmSegment::Create(name, 8192);
  ASSERT_TRUE(loose.ok());
  ASSERT_EQ(::chmod(("/dev/shm" + name).c_str(), 0644), 0);
  const auto opened = ShmSegment::Open(name);
  EXPECT_TRUE(absl::IsPermissionDenied(opened.status())) << opened.status();
  EXPECT_NE(opened.status().message().find("mode 0644"), std::string::npos) << opened.status();
}

TEST(RingOpenTest, RingStillBeingCreatedIsUnavailableNotCorrupt) {
  // What a reader can find between its creator's shm_open and the header
  // being published: a zero-filled segment.
  const std::string name = UniqueName("half");
  auto half = ShmSegment::Create(name, kRingHeaderBytes + 4096);
  ASSERT_TRUE(half.ok());
  EXPECT_TRUE(absl::IsUnavailable(RingReader::Open(name, 1).status()));
}

TEST(ProbeTest, PeerWithTheRightTokenMatchesAndAWrongTokenDoesNot) {
  auto probe = ColocationProbe::Create();
  ASSERT_TRUE(probe.ok());
  EXPECT_TRUE(ColocationProbe::OpenPeer(probe->name(), probe->token_hex()).ok());
  EXPECT_TRUE(
      absl::IsFailedPrecondition(ColocationProbe::OpenPeer(probe->name(), std::string(64, '0')).status()));
  EXPECT_TRUE(absl::IsNotFound(ColocationProbe::OpenPeer("/meshsim.1.nothing", probe->token_hex()).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ColocationProbe::OpenPeer("/etc/passwd", "").status()));
}

TEST(SegmentTest, SegmentsAreRemovedWithTheirOwnerAndSweptWhenTheOwnerDied) {
  const std::string name = UniqueName("owned");
  {
    auto segment = ShmSegment::Create(name, 4096);
    ASSERT_TRUE(segment.ok());
    EXPECT_TRUE(SegmentExists(name));
  }
  EXPECT_FALSE(SegmentExists(name));

  // A child creates a segment and dies without cleaning up.
  const pid_t child = fork();
  if (child == 0) {
    auto segment = ShmSegment::Create(SegmentName("orphan"), 4096);
    std::_Exit(segment.ok() ? 0 : 1);  // skips destructors: the segment stays
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const std::string orphan = "/meshsim." + std::to_string(child) + ".orphan";
  ASSERT_TRUE(SegmentExists(orphan));
  EXPECT_GE(SweepStaleSegments(), 1);
  EXPECT_FALSE(SegmentExists(orphan));
}

}  // namespace
}  // namespace meshsim::transport::shm
