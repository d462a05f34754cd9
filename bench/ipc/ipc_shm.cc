// meshsim's shared-memory ring between the bench and its peer, one each
// way, with the doorbells the nodes sleep on.
#include <unistd.h>

#include <cstring>
#include <optional>

#include "bench/ipc/ipc_support.h"
#include "bench/ipc/mechanisms.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/transport/shm/probe.h"
#include "common/transport/shm/ring.h"
#include "common/transport/shm/shm_segment.h"

namespace meshsim::bench {
namespace {

using transport::shm::ColocationProbe;
using transport::shm::Doorbell;
using transport::shm::RingReader;
using transport::shm::RingWriter;

class ShmChannel final : public Channel {
 public:
  ShmChannel(RingWriter writer, RingReader reader, Doorbell peer_bell, Doorbell own_bell)
      : writer_(std::move(writer)), reader_(std::move(reader)), peer_bell_(peer_bell), own_bell_(own_bell) {}

  absl::Status Send(std::span<const std::byte> message) override {
    return writer_.Write(message, peer_bell_, [] { return false; });
  }
  absl::Status Receive(std::vector<std::byte>* out, Duration timeout) override {
    const Deadline deadline = Deadline::After(timeout);
    for (;;) {
      MESHSIM_ASSIGN_OR_RETURN(bool got, reader_.TryRead(out));
      if (got) return absl::OkStatus();
      if (deadline.Expired()) return absl::DeadlineExceededError("peer did not answer in time");
      own_bell_.Wait([this] { return reader_.HasData(); },
                     std::min<Duration>(deadline.Remaining(), std::chrono::milliseconds(100)));
    }
  }

 private:
  RingWriter writer_;
  RingReader reader_;
  Doorbell peer_bell_;
  Doorbell own_bell_;
};

class ShmRing final : public Mechanism {
 public:
  std::string name() const override { return "meshsim shm ring"; }

  absl::Status Prepare() override {
    // Each side sleeps on its own doorbell, as each node does on its probe's.
    MESHSIM_ASSIGN_OR_RETURN(auto server_probe, ColocationProbe::Create("bench-server-bell"));
    MESHSIM_ASSIGN_OR_RETURN(auto client_probe, ColocationProbe::Create("bench-client-bell"));
    server_probe_.emplace(std::move(server_probe));
    client_probe_.emplace(std::move(client_probe));
    const std::string to_server = transport::shm::SegmentName(StrCat("bench-", getpid(), "-a"));
    const std::string to_client = transport::shm::SegmentName(StrCat("bench-", getpid(), "-b"));
    MESHSIM_ASSIGN_OR_RETURN(auto a_writer, RingWriter::Create(to_server, kRingBytes, kBenchJob));
    MESHSIM_ASSIGN_OR_RETURN(auto a_reader, RingReader::Open(to_server, kBenchJob));
    MESHSIM_ASSIGN_OR_RETURN(auto b_writer, RingWriter::Create(to_client, kRingBytes, kBenchJob));
    MESHSIM_ASSIGN_OR_RETURN(auto b_reader, RingReader::Open(to_client, kBenchJob));
    to_server_writer_.emplace(std::move(a_writer));
    to_server_reader_.emplace(std::move(a_reader));
    to_client_writer_.emplace(std::move(b_writer));
    to_client_reader_.emplace(std::move(b_reader));
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenServer() override {
    return std::make_unique<ShmChannel>(std::move(*to_client_writer_), std::move(*to_server_reader_),
                                        client_probe_->doorbell(), server_probe_->doorbell());
  }
  absl::StatusOr<std::unique_ptr<Channel>> OpenClient() override {
    return std::make_unique<ShmChannel>(std::move(*to_server_writer_), std::move(*to_client_reader_),
                                        server_probe_->doorbell(), client_probe_->doorbell());
  }

 private:
  static constexpr uint32_t kRingBytes = 4u << 20;  // as a node's links
  static constexpr uint64_t kBenchJob = 1;
  // Declared first so they outlive the rings' users; the bench process
  // unlinks every segment when the mechanism goes.
  std::optional<ColocationProbe> server_probe_, client_probe_;
  std::optional<RingWriter> to_server_writer_, to_client_writer_;
  std::optional<RingReader> to_server_reader_, to_client_reader_;
};

}  // namespace

std::unique_ptr<Mechanism> MakeShmRing() { return std::make_unique<ShmRing>(); }

}  // namespace meshsim::bench
