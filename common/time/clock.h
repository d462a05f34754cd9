// Wall-clock helpers: one monotonic clock and deadlines built on it.
#pragma once

#include <chrono>

namespace meshsim {

using SteadyClock = std::chrono::steady_clock;
using Duration = SteadyClock::duration;
using TimePoint = SteadyClock::time_point;

// A point in time after which an operation gives up.
class Deadline {
 public:
  static Deadline After(Duration timeout) { return Deadline(SteadyClock::now() + timeout); }
  static Deadline Never() { return Deadline(TimePoint::max()); }

  bool Expired() const { return SteadyClock::now() >= at_; }
  // Time left, never negative.
  Duration Remaining() const {
    if (at_ == TimePoint::max()) return Duration::max();
    auto left = at_ - SteadyClock::now();
    return left > Duration::zero() ? left : Duration::zero();
  }
  std::chrono::milliseconds RemainingMillis() const {
    auto left = Remaining();
    if (left == Duration::max()) return std::chrono::milliseconds::max();
    return std::chrono::ceil<std::chrono::milliseconds>(left);
  }
  TimePoint at() const { return at_; }

 private:
  explicit Deadline(TimePoint at) : at_(at) {}
  TimePoint at_;
};

inline double SecondsSince(TimePoint start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

}  // namespace meshsim
