// libFuzzer: a shared-memory ring whose bytes someone else wrote — its
// header and its records — opened and drained as a node reads a peer's
// ring. The bytes go into a real POSIX shm segment.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/transport/shm/ring.h"
#include "common/transport/shm/shm_segment.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshsim::transport::shm;
  static const std::string name = SegmentName("fuzz-ring");
  // A ring is at least a header and one page; the fuzz bytes fill it from
  // the start, the rest stays zero.
  const size_t bytes = kRingHeaderBytes + 4096;
  {
    auto segment = ShmSegment::Create(name, bytes);
    if (!segment.ok()) return 0;
    std::memcpy(segment->data(), data, std::min(size, bytes));
    auto reader = RingReader::Open(name, /*job_id=*/1);
    if (reader.ok()) {
      std::vector<std::byte> message;
      for (int i = 0; i < 64; ++i) {
        auto got = reader->TryRead(&message);
        if (!got.ok() || !*got) break;
      }
    }
  }  // the segment unlinks its name here
  return 0;
}
