// What the serving commands (coordinator, node, host) share: they print
// their endpoints as "@meshsim key=value" status lines on stdout (read by
// `meshsim run` and `meshsim host` through a pipe) and run until SIGINT or
// SIGTERM.
#pragma once

#include <signal.h>

#include <string_view>

#include "common/time/clock.h"

namespace meshsim::cli {

// Blocks SIGINT/SIGTERM in this thread and every thread it starts later, so
// the main thread can wait for them with WaitForStopSignal.
sigset_t BlockStopSignals();
// The signal that came.
int WaitForStopSignal(const sigset_t& set);

void PrintStatus(std::string_view key, std::string_view value);

Duration Seconds(double seconds);

}  // namespace meshsim::cli
