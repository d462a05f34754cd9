// The shared-memory ring against (a) a minimal busy-polling ring of fixed
// slots, written only as a baseline for what this machine can do, and
// (b) ZeroMQ over TCP on loopback; all measured in one run, side by side.
//
//   one-way latency: ping-pong over two channels, half the round trip,
//                    p50 and p99 over 20,000 round trips
//   throughput:      one direction, messages/s and GB/s at 64 B, 1 KiB,
//                    64 KiB
// Every figure is the median of --reps runs (default 3). The two ends are
// two threads; shared memory behaves the same between processes.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/time/clock.h"
#include "common/transport/shm/probe.h"
#include "common/transport/shm/ring.h"
#include "fmt/format.h"
#include "zmq.hpp"

namespace meshsim::bench {
namespace {

using transport::shm::ColocationProbe;
using transport::shm::Doorbell;
using transport::shm::RingReader;
using transport::shm::RingWriter;

// A one-directional channel: Send copies a message in, Receive copies it out
// (blocking until one is there).
class Channel {
 public:
  virtual ~Channel() = default;
  virtual void Send(const std::byte* data, size_t size) = 0;
  virtual size_t Receive(std::byte* out) = 0;
};

// ---- baseline: fixed slots, busy polling, no checks, no wake-ups --------
class BaselineRing final : public Channel {
 public:
  BaselineRing(size_t slot_bytes, size_t slots) : slot_bytes_(slot_bytes), slots_(slots) {
    bytes_ = 2 * 64 + slots * (slot_bytes + 8);
    memory_ = static_cast<std::byte*>(
        mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    head_ = new (memory_) std::atomic<uint64_t>(0);
    tail_ = new (memory_ + 64) std::atomic<uint64_t>(0);
  }
  ~BaselineRing() override { munmap(memory_, bytes_); }
  void Send(const std::byte* data, size_t size) override {
    const uint64_t head = head_->load(std::memory_order_relaxed);
    while (head - tail_->load(std::memory_order_acquire) == slots_) {
    }
    std::byte* slot = Slot(head);
    std::memcpy(slot, &size, 8);
    std::memcpy(slot + 8, data, size);
    head_->store(head + 1, std::memory_order_release);
  }
  size_t Receive(std::byte* out) override {
    const uint64_t tail = tail_->load(std::memory_order_relaxed);
    while (head_->load(std::memory_order_acquire) == tail) {
    }
    const std::byte* slot = Slot(tail);
    size_t size;
    std::memcpy(&size, slot, 8);
    std::memcpy(out, slot + 8, size);
    tail_->store(tail + 1, std::memory_order_release);
    return size;
  }

 private:
  std::byte* Slot(uint64_t index) const { return memory_ + 128 + (index % slots_) * (slot_bytes_ + 8); }
  size_t slot_bytes_, slots_, bytes_;
  std::byte* memory_;
  std::atomic<uint64_t>* head_;
  std::atomic<uint64_t>* tail_;
};

// ---- meshsim's ring, through its public API -------------------------------
class MeshsimRing final : public Channel {
 public:
  // `probe` is this process's (one per process, as on a node).
  MeshsimRing(const ColocationProbe& probe, uint32_t capacity) : bell_(probe.doorbell()) {
    static int counter = 0;
    const std::string name = transport::shm::SegmentName("bench" + std::to_string(counter++));
    writer_.emplace(*RingWriter::Create(name, capacity, 1));
    reader_.emplace(*RingReader::Open(name, 1));
  }
  void Send(const std::byte* data, size_t size) override {
    (void)writer_->Write({data, size}, bell_, [] { return false; });
  }
  size_t Receive(std::byte* out) override {
    for (;;) {
      auto got = reader_->TryRead(&buffer_);
      if (got.ok() && *got) {
        std::memcpy(out, buffer_.data(), buffer_.size());
        return buffer_.size();
      }
      bell_.Wait([this] { return reader_->HasData(); }, std::chrono::milliseconds(100));
    }
  }

 private:
  Doorbell bell_;
  std::optional<RingWriter> writer_;
  std::optional<RingReader> reader_;
  std::vector<std::byte> buffer_;
};

// ---- ZeroMQ over TCP on loopback -------------------------------------------
class ZmqTcp final : public Channel {
 public:
  explicit ZmqTcp(zmq::context_t& context)
      : in_(context, zmq::socket_type::pull), out_(context, zmq::socket_type::push) {
    in_.bind("tcp://127.0.0.1:0");
    out_.connect(in_.get(zmq::sockopt::last_endpoint));
    in_.set(zmq::sockopt::rcvhwm, 0);
    out_.set(zmq::sockopt::sndhwm, 0);
  }
  void Send(const std::byte* data, size_t size) override { out_.send(zmq::const_buffer(data, size)); }
  size_t Receive(std::byte* out) override {
    (void)in_.recv(message_);
    std::memcpy(out, message_.data(), message_.size());
    return message_.size();
  }

 private:
  zmq::socket_t in_, out_;
  zmq::message_t message_;
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Latency {
  double p50_us, p99_us;
};

Latency MeasureLatency(Channel& there, Channel& back, int round_trips) {
  std::vector<std::byte> out(64), in(64);
  std::thread echo([&] {
    std::vector<std::byte> buffer(64);
    for (int i = 0; i < round_trips; ++i) back.Send(buffer.data(), there.Receive(buffer.data()));
  });
  std::vector<double> one_way;
  one_way.reserve(round_trips);
  for (int i = 0; i < round_trips; ++i) {
    const auto start = SteadyClock::now();
    there.Send(out.data(), 64);
    back.Receive(in.data());
    one_way.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count() / 2);
  }
  echo.join();
  std::sort(one_way.begin(), one_way.end());
  return {one_way[one_way.size() / 2], one_way[one_way.size() * 99 / 100]};
}

double MeasureThroughput(Channel& channel, size_t size, int messages) {
  std::vector<std::byte> out(size, std::byte{1}), in(size);
  const auto start = SteadyClock::now();
  std::thread reader([&] {
    for (int i = 0; i < messages; ++i) channel.Receive(in.data());
  });
  for (int i = 0; i < messages; ++i) channel.Send(out.data(), size);
  reader.join();
  return messages / SecondsSince(start);
}

int Run(int reps, double scale) {
  zmq::context_t context;
  auto probe = ColocationProbe::Create();
  if (!probe.ok()) {
    fmt::print(stderr, "no shared memory: {}\n", std::string(probe.status().message()));
    return 1;
  }
  struct Mechanism {
    std::string name;
    std::function<std::unique_ptr<Channel>(size_t max_message)> make;
  };
  const std::vector<Mechanism> mechanisms = {
      {"baseline busy-poll ring",
       [](size_t max) { return std::make_unique<BaselineRing>(max, (4u << 20) / (max + 8)); }},
      {"meshsim shm ring", [&](size_t) { return std::make_unique<MeshsimRing>(*probe, 4u << 20); }},
      {"zeromq tcp loopback", [&](size_t) { return std::make_unique<ZmqTcp>(context); }},
  };
  const struct {
    size_t size;
    int messages;
  } sizes[] = {{64, 2'000'000}, {1024, 500'000}, {65536, 20'000}};

  fmt::print("{:<26} {:>10} {:>10}", "mechanism", "p50 us", "p99 us");
  for (const auto& s : sizes) fmt::print(" {:>22}", fmt::format("{} B msg/s (GB/s)", s.size));
  fmt::print("\n");
  for (const auto& mechanism : mechanisms) {
    std::vector<double> p50, p99;
    for (int r = 0; r < reps; ++r) {
      auto there = mechanism.make(64);
      auto back = mechanism.make(64);
      const Latency latency = MeasureLatency(*there, *back, static_cast<int>(20000 * scale) + 100);
      p50.push_back(latency.p50_us);
      p99.push_back(latency.p99_us);
    }
    fmt::print("{:<26} {:>10.2f} {:>10.2f}", mechanism.name, Median(p50), Median(p99));
    for (const auto& s : sizes) {
      std::vector<double> rates;
      for (int r = 0; r < reps; ++r) {
        auto channel = mechanism.make(s.size);
        rates.push_back(MeasureThroughput(*channel, s.size, static_cast<int>(s.messages * scale) + 10));
      }
      const double rate = Median(rates);
      fmt::print(" {:>22}", fmt::format("{:.3g} M ({:.2f})", rate / 1e6, rate * s.size / 1e9));
    }
    fmt::print("\n");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace meshsim::bench

int main(int argc, char** argv) {
  int reps = 3;
  double scale = 1.0;  // --quick: a hundredth of the work, for smoke tests
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") scale = 0.01, reps = 1;
    if (arg.starts_with("--reps=")) reps = std::max(1, std::atoi(arg.c_str() + 7));
  }
  return meshsim::bench::Run(reps, scale);
}
