// Reading and writing fixed-size little-endian fields at any byte offset,
// for the wire and file formats (frames, checkpoint parts). memcpy is the
// defined way to do it, and compiles to a plain load or store.
#pragma once

#include <cstddef>
#include <cstring>

namespace meshsim::frame {

template <typename T>
T LoadUnaligned(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T>
void StoreUnaligned(std::byte* p, T value) {
  std::memcpy(p, &value, sizeof(T));
}

}  // namespace meshsim::frame
