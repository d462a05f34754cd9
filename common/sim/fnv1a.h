// FNV-1a, 64 bits: a small, fast, well-spread hash of bytes, taken in
// pieces (pass the previous result on). Not for anything an adversary picks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace meshsim::sim {

inline constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ULL;

inline uint64_t Fnv1a(std::span<const std::byte> bytes, uint64_t hash = kFnv1aOffset) {
  for (std::byte b : bytes) hash = (hash ^ static_cast<uint8_t>(b)) * 0x100000001b3ULL;
  return hash;
}

}  // namespace meshsim::sim
