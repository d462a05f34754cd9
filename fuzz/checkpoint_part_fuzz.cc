// libFuzzer: a checkpoint part as the coordinator stores it and a node
// reads it back to restore. The part's trailer checksum is made right
// first, so the fuzzer reaches the parser behind it (a part that fails its
// checksum is refused before anything else, which the tests show).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/checkpoint/checkpoint_codec.h"
#include "common/checkpoint/checkpoint_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshsim::checkpoint;
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data),
                               reinterpret_cast<const std::byte*>(data) + size);
  if (bytes.size() >= kTrailerBytes) {
    const size_t body = bytes.size() - kTrailerBytes;
    const uint32_t crc = static_cast<uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(body)));
    std::memcpy(bytes.data() + body, &crc, sizeof(crc));
  }
  auto part = CheckpointPart::Parse(bytes, 64);
  if (part.ok()) {
    uint64_t sum = 0;
    part->ForEachLp([&](const LpRecord& record) { sum += record.lp + record.state.size(); });
    part->ForEachEvent([&](const meshsim::sim::Event& event) { sum += event.payload.size(); });
    (void)sum;
  }
  return 0;
}
