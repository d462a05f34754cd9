#include "common/transport/shm/ring.h"

#include <unistd.h>

#include <cstring>
#include <optional>
#include <thread>

#include "common/strings/format.h"
#include "common/transport/shm/futex.h"

namespace meshsim::transport::shm {
namespace {

// How a waiting side waits. It polls for kSpinTime, then polls and yields
// its core for up to kYieldTime, then sleeps on a futex, so an idle node
// uses no CPU. The yielding stretch is what keeps two nodes in step: waking
// a sleeper costs the waker a syscall and, on a VM, the sleeper tens of
// microseconds; a side that slept once made its peer wait that long, so the
// peer slept too, and with a budget shorter than a wake-up the two took
// turns sleeping through every window (bench/window_exchange.sh read 1.2 or
// 50 us per 2-node window from run to run). Yielding instead of spinning
// leaves the core to a peer that shares it when there are more nodes than
// cores.
constexpr auto kSpinTime = std::chrono::microseconds(2);
constexpr auto kYieldTime = std::chrono::milliseconds(1);
constexpr auto kSleepSlice = std::chrono::milliseconds(5);

// Polls `ready` for up to kSpinTime, reading the clock only every 64 polls,
// then between yields of the core for up to kYieldTime in all. nullopt when
// it never held.
template <typename Ready>
std::optional<WaitPhase> SpinUntil(const Ready& ready) {
  const auto start = SteadyClock::now();
  const auto spin_until = start + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return WaitPhase::kPolled;
    }
    if (SteadyClock::now() >= spin_until) break;
  }
  const auto yield_until = start + kYieldTime;
  for (;;) {
    std::this_thread::yield();
    for (int i = 0; i < 8; ++i) {
      if (ready()) return WaitPhase::kYielded;
    }
    if (SteadyClock::now() >= yield_until) return std::nullopt;
  }
}

struct RecordHeader {
  uint32_t length;
  uint32_t flags;
};

}  // namespace

// ---- Doorbell ---------------------------------------------------------------

void Doorbell::Ring() {
  // The writer has just published with a seq_cst store; this seq_cst load
  // pairs with the reader's seq_cst increment and re-check in Wait():
  // either the reader sees the data, or we see it sleeping.
  if (probe_->reader_sleeping.load(std::memory_order_seq_cst) != 0) {
    probe_->signal.fetch_add(1, std::memory_order_relaxed);
    FutexWakeAll(&probe_->signal);
  }
}

WaitPhase Doorbell::Wait(const std::function<bool()>& ready, Duration timeout) {
  if (const auto phase = SpinUntil(ready)) return *phase;
  const uint32_t seen = probe_->signal.load(std::memory_order_relaxed);
  // A count, not a flag: with several sleepers, one waking must not hide
  // the others from writers.
  probe_->reader_sleeping.fetch_add(1, std::memory_order_seq_cst);
  if (!ready()) FutexWait(&probe_->signal, seen, timeout);
  probe_->reader_sleeping.fetch_sub(1, std::memory_order_relaxed);
  return WaitPhase::kSlept;
}

// ---- RingWriter -------------------------------------------------------------

absl::StatusOr<RingWriter> RingWriter::Create(const std::string& name, uint32_t capacity, uint64_t job_id) {
  if (capacity < 4096 || (capacity & (capacity - 1)) != 0) {
    return absl::InvalidArgumentError(StrCat("ring capacity ", capacity, " is not a power of two >= 4096"));
  }
  auto segment = ShmSegment::Create(name, kRingHeaderBytes + capacity);
  if (!segment.ok()) return segment.status();
  auto* d = new (segment->data()) RingDescriptor{};
  d->version = kRingVersion;
  d->capacity = capacity;
  d->job_id = job_id;
  d->writer_pid = static_cast<uint32_t>(getpid());
  // The reader polls for the name and may map the segment before it is
  // initialized: the magic goes in last, with release, and a reader that
  // sees it (acquire) sees every field above.
  std::atomic_ref<uint64_t>(d->magic).store(kRingMagic, std::memory_order_release);
  return RingWriter(std::move(*segment), capacity);
}

RingWriter::RingWriter(ShmSegment segment, uint32_t capacity)
    : segment_(std::move(segment)), capacity_(capacity) {}

uint64_t RingWriter::occupancy() const {
  return write_pos_ - descriptor()->read_pos.load(std::memory_order_relaxed);
}

absl::Status RingWriter::WaitForSpace(size_t need, const std::function<bool()>& should_stop) {
  RingDescriptor* d = descriptor();
  const auto spin_until = SteadyClock::now() + kSpinTime;
  if (capacity_ - (write_pos_ - cached_read_pos_) >= need) return absl::OkStatus();
  for (uint32_t round = 0;; ++round) {
    // Acquire: the reader's reads of the bytes it released happen before we
    // overwrite them.
    const uint64_t read = d->read_pos.load(std::memory_order_acquire);
    if (read > write_pos_ || write_pos_ - read > capacity_ || read < cached_read_pos_) {
      return absl::DataLossError(StrCat("shm ring ", segment_.name(), " corrupted: read position ", read,
                                        " inconsistent with write position ", write_pos_));
    }
    cached_read_pos_ = read;
    if (capacity_ - (write_pos_ - read) >= need) return absl::OkStatus();
    if (round % 64 != 63 || SteadyClock::now() < spin_until) continue;
    if (should_stop()) return absl::AbortedError("stopped while waiting for ring space");
    const uint32_t seen = d->space_signal.load(std::memory_order_relaxed);
    // seq_cst store then seq_cst load, against the reader's in Release():
    // either it sees us sleeping, or we see the space it freed.
    d->writer_sleeping.store(1, std::memory_order_seq_cst);
    if (capacity_ - (write_pos_ - d->read_pos.load(std::memory_order_seq_cst)) < need) {
      FutexWait(&d->space_signal, seen, kSleepSlice);
    }
    d->writer_sleeping.store(0, std::memory_order_relaxed);
  }
}

absl::StatusOr<std::span<std::byte>> RingWriter::Reserve(size_t bytes,
                                                         const std::function<bool()>& should_stop) {
  if (bytes > max_record_bytes()) {
    return absl::InvalidArgumentError(
        StrCat("record of ", bytes, " bytes exceeds the ring's ", max_record_bytes(), "-byte limit"));
  }
  const size_t need = AlignRecord(kRecordHeaderBytes + bytes);
  const size_t offset = write_pos_ & (capacity_ - 1);
  const size_t to_end = capacity_ - offset;
  if (need > to_end) {
    // Fill the tail with a padding record and start again at offset 0.
    if (auto status = WaitForSpace(to_end + need, should_stop); !status.ok()) return status;
    const RecordHeader padding{static_cast<uint32_t>(to_end - kRecordHeaderBytes), kPadding};
    std::memcpy(records() + offset, &padding, sizeof(padding));
    write_pos_ += to_end;
  } else if (auto status = WaitForSpace(need, should_stop); !status.ok()) {
    return status;
  }
  reserved_ = bytes;
  return std::span<std::byte>(records() + (write_pos_ & (capacity_ - 1)) + kRecordHeaderBytes, bytes);
}

void RingWriter::Commit(uint32_t flags, Doorbell& doorbell) {
  const RecordHeader header{static_cast<uint32_t>(reserved_), flags};
  std::memcpy(records() + (write_pos_ & (capacity_ - 1)), &header, sizeof(header));
  write_pos_ += AlignRecord(kRecordHeaderBytes + reserved_);
  // seq_cst (at least release): the record's bytes are visible before the
  // position that covers them, and the store is ordered before Ring()'s
  // load of the reader's sleeping count.
  descriptor()->write_pos.store(write_pos_, std::memory_order_seq_cst);
  doorbell.Ring();
}

absl::Status RingWriter::Write(std::span<const std::byte> message, Doorbell& doorbell,
                               const std::function<bool()>& should_stop) {
  size_t done = 0;
  do {
    const size_t chunk = std::min(message.size() - done, max_record_bytes());
    auto space = Reserve(chunk, should_stop);
    if (!space.ok()) return space.status();
    if (chunk != 0) std::memcpy(space->data(), message.data() + done, chunk);
    uint32_t flags = 0;
    if (done == 0) flags |= kFirst;
    done += chunk;
    if (done == message.size()) flags |= kLast;
    Commit(flags, doorbell);
  } while (done < message.size());
  return absl::OkStatus();
}

// ---- RingReader -------------------------------------------------------------

absl::StatusOr<RingReader> RingReader::Open(const std::string& name, uint64_t job_id) {
  auto segment = ShmSegment::Open(name);
  if (!segment.ok()) return segment.status();
  if (segment->size() < kRingHeaderBytes + 4096) {
    return absl::DataLossError(StrCat("shm ring ", name, " is too small (", segment->size(), " bytes)"));
  }
  auto* d = reinterpret_cast<RingDescriptor*>(segment->data());
  // Acquire: pairs with the creator's release of the magic.
  const uint64_t magic = std::atomic_ref<uint64_t>(d->magic).load(std::memory_order_acquire);
  if (magic == 0) return absl::UnavailableError(StrCat("shm ring ", name, " is not initialized yet"));
  if (magic != kRingMagic || d->version != kRingVersion) {
    return absl::DataLossError(StrCat("shm ring ", name, " has a bad magic or version"));
  }
  if (d->capacity != segment->size() - kRingHeaderBytes) {
    return absl::DataLossError(
        StrCat("shm ring ", name, " capacity ", d->capacity, " does not match its size"));
  }
  if (d->job_id != job_id) {
    return absl::FailedPreconditionError(StrCat("shm ring ", name, " belongs to job ", d->job_id));
  }
  const uint32_t capacity = d->capacity;
  return RingReader(std::move(*segment), capacity, job_id);
}

RingReader::RingReader(ShmSegment segment, uint32_t capacity, uint64_t job_id)
    : segment_(std::move(segment)), capacity_(capacity), job_id_(job_id) {}

absl::Status RingReader::Corrupt(std::string_view what) const {
  return absl::DataLossError(StrCat("shm ring ", segment_.name(), " corrupted: ", what));
}

bool RingReader::HasData() const {
  // seq_cst: the doorbell's re-check after announcing sleep (see Ring()).
  return descriptor()->write_pos.load(std::memory_order_seq_cst) != read_pos_;
}

void RingReader::Release(uint64_t new_read_pos) {
  RingDescriptor* d = descriptor();
  read_pos_ = new_read_pos;
  // seq_cst (at least release): our reads of the freed bytes happen before
  // the writer reuses them; and store-then-load against WaitForSpace().
  d->read_pos.store(read_pos_, std::memory_order_seq_cst);
  if (d->writer_sleeping.load(std::memory_order_seq_cst) != 0) {
    d->space_signal.fetch_add(1, std::memory_order_relaxed);
    FutexWakeAll(&d->space_signal);
  }
}

absl::Status RingReader::CheckRecord(uint32_t length, uint32_t flags, size_t offset, size_t available) const {
  const size_t record = AlignRecord(kRecordHeaderBytes + length);
  if (flags & kPadding) {
    if (flags != kPadding || offset + record != capacity_) {
      return Corrupt(StrCat("bad padding record at offset ", offset));
    }
  } else if ((flags & ~uint32_t{kFirst | kLast}) != 0 || length > capacity_ / 4 ||
             offset + record > capacity_) {
    return Corrupt(StrCat("bad record (length ", length, ", flags ", flags, ") at offset ", offset));
  } else if (((flags & kFirst) != 0) == in_message_) {
    return Corrupt(
        StrCat("record at offset ", offset,
               in_message_ ? " starts a new message inside another" : " continues a message never started"));
  }
  if (record > available)
    return Corrupt(StrCat("record at offset ", offset, " runs past the write position"));
  return absl::OkStatus();
}

absl::StatusOr<bool> RingReader::TryRead(std::vector<std::byte>* out) {
  const RingDescriptor* d = descriptor();
  // The header is the writer's promise about the layout: re-check it, so a
  // scribbled header fails the read instead of steering it.
  if (d->magic != kRingMagic || d->capacity != capacity_ || d->job_id != job_id_) {
    return Corrupt("header changed (magic, capacity or job id)");
  }
  for (;;) {
    if (cached_write_pos_ == read_pos_) {
      // Acquire: the records are visible once the position covering them is.
      cached_write_pos_ = d->write_pos.load(std::memory_order_acquire);
      if (cached_write_pos_ == read_pos_) return false;
    }
    const uint64_t write = cached_write_pos_;
    if (write < read_pos_ || write - read_pos_ > capacity_) {
      return Corrupt(StrCat("write position ", write, " inconsistent with read position ", read_pos_));
    }
    const size_t available = write - read_pos_;
    const size_t offset = read_pos_ & (capacity_ - 1);
    if (available < kRecordHeaderBytes) return Corrupt("partial record header published");
    RecordHeader header;
    std::memcpy(&header, records() + offset, sizeof(header));
    const size_t record = AlignRecord(kRecordHeaderBytes + header.length);
    if (absl::Status status = CheckRecord(header.length, header.flags, offset, available); !status.ok())
        [[unlikely]] {
      return status;
    }

    if (header.flags == (kFirst | kLast)) {
      // The common case, a whole message in one record: one copy, straight
      // into the caller's buffer.
      const std::byte* payload = records() + offset + kRecordHeaderBytes;
      out->assign(payload, payload + header.length);
      Release(read_pos_ + record);
      return true;
    }
    if (!(header.flags & kPadding)) {
      if (header.flags & kFirst) {
        assembling_.clear();
        in_message_ = true;
      }
      const std::byte* payload = records() + offset + kRecordHeaderBytes;
      assembling_.insert(assembling_.end(), payload, payload + header.length);
    }
    Release(read_pos_ + record);
    if (header.flags & kLast) {
      in_message_ = false;
      out->swap(assembling_);
      return true;
    }
  }
}

}  // namespace meshsim::transport::shm
