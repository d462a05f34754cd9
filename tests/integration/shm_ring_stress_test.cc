// Two processes push millions of messages of random sizes (1 byte to more
// than half the ring) through one ring. Each message carries its sequence
// number and a checksum: nothing may be lost, reordered or corrupted, with
// the writer faster than the reader and the reverse.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/transport/shm/probe.h"
#include "common/transport/shm/ring.h"
#include "gtest/gtest.h"
#include "meshsim/rng.h"

namespace meshsim::transport::shm {
namespace {

constexpr uint32_t kRingBytes = 64 * 1024;

// Sizes: mostly small, one in 64 up to 0.6 of the ring (larger than half,
// so it is split into several records).
size_t MessageSize(sim::Rng& rng) {
  if (rng.Below(64) == 0) return 16 + rng.Below(kRingBytes * 6 / 10);
  return 16 + rng.Below(240);
}

uint64_t Checksum(const std::byte* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint8_t>(data[i])) * 0x100000001b3ULL;
  return h;
}

void Pause(sim::Rng& rng, bool slow) {
  if (slow && rng.Below(256) == 0) usleep(50);
}

// Writes `count` messages: [seq u64][checksum u64][random bytes].
int WriterProcess(const std::string& ring_name, const std::string& probe_name, const std::string& token,
                  uint64_t count, bool slow) {
  auto writer = RingWriter::Create(ring_name, kRingBytes, 1);
  auto probe = ColocationProbe::OpenPeer(probe_name, token);
  if (!writer.ok() || !probe.ok()) return 2;
  Doorbell bell(ColocationProbe::Descriptor(*probe));
  sim::Rng rng = sim::Rng::ForLp(99, 0);
  std::vector<std::byte> message;
  for (uint64_t seq = 0; seq < count; ++seq) {
    message.resize(MessageSize(rng));
    for (size_t i = 16; i < message.size(); ++i) message[i] = std::byte(rng.Next());
    const uint64_t sum = Checksum(message.data() + 16, message.size() - 16);
    std::memcpy(message.data(), &seq, 8);
    std::memcpy(message.data() + 8, &sum, 8);
    if (!writer->Write(message, bell, [] { return false; }).ok()) return 3;
    Pause(rng, slow);
  }
  // Keep the ring (and its name) until the reader has everything.
  while (writer->occupancy() > 0) usleep(1000);
  return 0;
}

void RunStress(uint64_t count, bool slow_writer, bool slow_reader) {
  auto probe = ColocationProbe::Create();
  ASSERT_TRUE(probe.ok());
  static int round = 0;
  const std::string ring_name = SegmentName("stress" + std::to_string(round++));
  const pid_t child = fork();
  if (child == 0) std::_Exit(WriterProcess(ring_name, probe->name(), probe->token_hex(), count, slow_writer));

  absl::StatusOr<RingReader> reader = absl::NotFoundError("");
  for (int i = 0; i < 5000 && !reader.ok(); ++i) {
    reader = RingReader::Open(ring_name, 1);
    if (!reader.ok()) usleep(1000);
  }
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  Doorbell bell = probe->doorbell();
  sim::Rng rng = sim::Rng::ForLp(7, 7);
  std::vector<std::byte> out;
  uint64_t bytes = 0;
  for (uint64_t expected = 0; expected < count;) {
    auto got = reader->TryRead(&out);
    ASSERT_TRUE(got.ok()) << got.status().message();
    if (!*got) {
      bell.Wait([&] { return reader->HasData(); }, std::chrono::milliseconds(100));
      continue;
    }
    ASSERT_GE(out.size(), 16u);
    uint64_t seq, sum;
    std::memcpy(&seq, out.data(), 8);
    std::memcpy(&sum, out.data() + 8, 8);
    ASSERT_EQ(seq, expected) << "lost or reordered";
    ASSERT_EQ(sum, Checksum(out.data() + 16, out.size() - 16)) << "corrupted message " << seq;
    bytes += out.size();
    ++expected;
    Pause(rng, slow_reader);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(SegmentExists(ring_name));
  ::testing::Test::RecordProperty("bytes", std::to_string(bytes));
}

TEST(ShmRingStressTest, BalancedTwoMillionMessages) { RunStress(2'000'000, false, false); }
TEST(ShmRingStressTest, WriterFasterThanReader) { RunStress(1'000'000, false, true); }
TEST(ShmRingStressTest, ReaderFasterThanWriter) { RunStress(1'000'000, true, false); }

}  // namespace
}  // namespace meshsim::transport::shm
