// Cross-process futex wait and wake on a 32-bit word in shared memory
// (non-private futexes, so they work across address spaces).
#pragma once

#include <atomic>
#include <cstdint>

#include "common/time/clock.h"

namespace meshsim::transport::shm {

// Sleeps while *word == expected, at most `timeout`. Returns on wake-up,
// timeout, a changed value or a signal; the caller re-checks its condition.
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, Duration timeout);

// Wakes every waiter on *word.
void FutexWakeAll(std::atomic<uint32_t>* word);

}  // namespace meshsim::transport::shm
