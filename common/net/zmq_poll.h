// Waiting on ZeroMQ sockets without dying of a signal. zmq::poll throws when
// zmq_poll fails with EINTR (a signal handled by this thread: a profiler's
// SIGPROF, libFuzzer's SIGALRM, a handler a library installed); a thread
// whose loop ends in that exception stops serving while the process lives
// on. PollUntil waits again for the time left instead.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>

#include "common/time/clock.h"
#include "zmq.hpp"

namespace meshsim::net {

// Waits until one of `items` is ready or `deadline` passes; the number of
// ready items (0 at the deadline). Other zmq_poll errors throw zmq::error_t.
inline int PollUntil(zmq::pollitem_t* items, size_t count, Deadline deadline) {
  for (;;) {
    const auto left = deadline.RemainingMillis();
    const long timeout = left == std::chrono::milliseconds::max() ? -1 : static_cast<long>(left.count());
    const int ready = zmq_poll(items, static_cast<int>(count), timeout);
    if (ready >= 0) return ready;
    if (zmq_errno() != EINTR) throw zmq::error_t();
    if (deadline.Expired()) {
      for (size_t i = 0; i < count; ++i) items[i].revents = 0;
      return 0;
    }
  }
}

inline int PollFor(zmq::pollitem_t* items, size_t count, Duration timeout) {
  return PollUntil(items, count, Deadline::After(timeout));
}

}  // namespace meshsim::net
