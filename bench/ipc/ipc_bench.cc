#include "bench/ipc/ipc_bench.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "bench/ipc/ipc_channels.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/time/clock.h"

namespace meshsim::bench {
namespace {

constexpr Duration kReplyTimeout = std::chrono::seconds(10);
constexpr size_t kMaxSamples = 5'000'000;

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::vector<std::byte> Message(Op op, size_t size) {
  std::vector<std::byte> message(size, std::byte{0x5a});
  message[0] = std::byte{static_cast<uint8_t>(op)};
  return message;
}

struct LatencySample {
  double p50_us, p99_us;
};

absl::StatusOr<LatencySample> MeasureLatency(Channel& channel, size_t size, double seconds) {
  const auto message = Message(Op::kEcho, size);
  std::vector<std::byte> reply;
  reply.reserve(size);
  auto round_trip = [&]() -> absl::Status {
    MESHSIM_RETURN_IF_ERROR(channel.Send(message));
    MESHSIM_RETURN_IF_ERROR(channel.Receive(&reply, kReplyTimeout));
    if (reply.size() != size || reply[0] != message[0]) {
      return absl::DataLossError(StrCat("echo of ", size, " bytes came back as ", reply.size()));
    }
    return absl::OkStatus();
  };
  const Deadline warm_up = Deadline::After(
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(std::min(0.05, seconds / 5))));
  do {
    MESHSIM_RETURN_IF_ERROR(round_trip());
  } while (!warm_up.Expired());

  std::vector<double> micros;
  micros.reserve(1 << 16);
  const auto start = SteadyClock::now();
  do {
    const auto before = SteadyClock::now();
    MESHSIM_RETURN_IF_ERROR(round_trip());
    micros.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - before).count());
  } while (SecondsSince(start) < seconds && micros.size() < kMaxSamples);
  std::sort(micros.begin(), micros.end());
  return LatencySample{micros[micros.size() / 2],
                       micros[std::min(micros.size() - 1, micros.size() * 99 / 100)]};
}

// Messages per second: a burst of kSink messages, closed by a kAck whose
// answer says the peer has taken them all.
absl::StatusOr<double> MeasureThroughput(Channel& channel, size_t size, double seconds) {
  const auto message = Message(Op::kSink, size);
  const auto ack = Message(Op::kAck, 1);
  std::vector<std::byte> reply;
  auto burst = [&](double burst_seconds) -> absl::StatusOr<double> {
    const auto start = SteadyClock::now();
    uint64_t sent = 0;
    do {
      for (int i = 0; i < 16; ++i) MESHSIM_RETURN_IF_ERROR(channel.Send(message));
      sent += 16;
    } while (SecondsSince(start) < burst_seconds);
    MESHSIM_RETURN_IF_ERROR(channel.Send(ack));
    MESHSIM_RETURN_IF_ERROR(channel.Receive(&reply, kReplyTimeout));
    return static_cast<double>(sent) / SecondsSince(start);
  };
  MESHSIM_RETURN_IF_ERROR(burst(std::min(0.05, seconds / 5)).status());  // warm-up
  return burst(seconds);
}

// Runs the peer (a forked process, or a thread for same_process()) and
// always takes it down again.
class Peer {
 public:
  explicit Peer(Mechanism& mechanism) : mechanism_(mechanism) {}
  ~Peer() { Stop(); }

  absl::Status Start() {
    if (mechanism_.same_process()) {
      thread_ = std::thread([this] { status_ = mechanism_.Serve(); });
      return absl::OkStatus();
    }
    std::fflush(stdout);
    std::fflush(stderr);
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
      const absl::Status status = mechanism_.Serve();
      if (!status.ok()) std::fprintf(stderr, "bench peer: %s\n", std::string(status.message()).c_str());
      _exit(status.ok() ? 0 : 1);  // no destructors: the parent owns every shared resource
    }
    return absl::OkStatus();
  }

  void Stop() {
    if (thread_.joinable()) thread_.join();
    if (pid_ > 0) {
      const Deadline deadline = Deadline::After(std::chrono::seconds(5));
      while (waitpid(pid_, nullptr, WNOHANG) == 0) {
        if (deadline.Expired()) {
          kill(pid_, SIGKILL);
          waitpid(pid_, nullptr, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      pid_ = -1;
    }
  }

  void Kill() {
    if (pid_ > 0) kill(pid_, SIGKILL);
  }

 private:
  Mechanism& mechanism_;
  pid_t pid_ = -1;
  std::thread thread_;
  absl::Status status_;
};

absl::Status MeasureMechanism(Mechanism& mechanism, const IpcBenchOptions& options,
                              std::vector<IpcResult>* results) {
  MESHSIM_RETURN_IF_ERROR(mechanism.Prepare());
  Peer peer(mechanism);
  MESHSIM_RETURN_IF_ERROR(peer.Start());
  auto client = mechanism.OpenClient();
  if (!client.ok()) {
    peer.Kill();
    return client.status();
  }
  absl::Status status;
  for (size_t size : options.sizes) {
    std::vector<double> p50, p99, rate;
    for (int rep = 0; rep < options.repetitions && status.ok(); ++rep) {
      auto latency = MeasureLatency(**client, size, options.seconds);
      auto throughput = latency.ok() ? MeasureThroughput(**client, size, options.seconds) : latency.status();
      if (!throughput.ok()) {
        status = Annotate(throughput.status(), StrCat(size, " bytes"));
        break;
      }
      p50.push_back(latency->p50_us);
      p99.push_back(latency->p99_us);
      rate.push_back(*throughput);
    }
    if (!status.ok()) break;
    IpcResult result;
    result.mechanism = mechanism.name();
    if (mechanism.same_process()) result.note = "two threads of one process";
    if (mechanism.request_reply()) result.note = "throughput is sequential calls";
    result.size = size;
    result.p50_us = Median(p50);
    result.p99_us = Median(p99);
    result.messages_per_second = Median(rate);
    result.megabytes_per_second = result.messages_per_second * static_cast<double>(size) / 1e6;
    results->push_back(result);
  }
  if (status.ok()) {
    (void)(*client)->Send(Message(Op::kExit, 1));
  } else {
    peer.Kill();
  }
  client->reset();
  peer.Stop();
  return status;
}

}  // namespace

absl::StatusOr<std::vector<IpcResult>> RunIpcBench(const IpcBenchOptions& options,
                                                   const std::function<void(const std::string&)>& progress) {
  if (options.sizes.empty()) return absl::InvalidArgumentError("--sizes: no sizes");
  if (!(options.seconds > 0) || options.seconds > 60) {
    return absl::InvalidArgumentError("--seconds: must be above 0 and at most 60");
  }
  if (options.repetitions < 1 || options.repetitions > 100) {
    return absl::InvalidArgumentError("--repetitions: must be between 1 and 100");
  }
  // Filesystem endpoints live in a directory of their own, removed at the end.
  std::error_code error;
  const auto scratch = std::filesystem::temp_directory_path() / StrCat("meshsim-bench-", getpid());
  std::filesystem::create_directories(scratch, error);
  if (error) return absl::UnavailableError(StrCat("cannot create ", scratch.string(), ": ", error.message()));

  std::vector<IpcResult> results;
  absl::Status status;
  {
    auto mechanisms = AllMechanisms(scratch.string());
    for (auto& mechanism : mechanisms) {
      if (progress) progress(mechanism->name());
      status = Annotate(MeasureMechanism(*mechanism, options, &results), mechanism->name());
      if (!status.ok()) break;
    }
  }
  std::filesystem::remove_all(scratch, error);
  if (!status.ok()) return status;
  return results;
}

absl::StatusOr<std::vector<size_t>> ParseSizes(const std::string& text) {
  std::vector<size_t> sizes;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    size_t digits = 0;
    while (digits < item.size() && std::isdigit(static_cast<unsigned char>(item[digits]))) ++digits;
    std::string unit = item.substr(digits);
    for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    size_t scale = 0;
    if (unit.empty() || unit == "B") scale = 1;
    if (unit == "K" || unit == "KB" || unit == "KIB") scale = 1024;
    if (unit == "M" || unit == "MB" || unit == "MIB") scale = 1 << 20;
    if (digits == 0 || digits > 9 || scale == 0) {
      return absl::InvalidArgumentError(StrCat("--sizes: '", item, "' is not a size like 64, 1K or 64KiB"));
    }
    const size_t size = std::stoul(item.substr(0, digits)) * scale;
    if (size < 1 || size > (16u << 20)) {
      return absl::InvalidArgumentError(StrCat("--sizes: ", item, " is outside 1 byte .. 16 MiB"));
    }
    sizes.push_back(size);
    start = comma + 1;
  }
  return sizes;
}

}  // namespace meshsim::bench
