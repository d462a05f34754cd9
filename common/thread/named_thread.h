// Starting a thread the meshsim way: it has a name (shown by top and gdb),
// and nothing escapes it: an exception ends the thread with a critical log
// line instead of std::terminate.
#pragma once

#include <functional>
#include <string>
#include <thread>

namespace meshsim {

// `name` is cut to 15 characters, the kernel's limit.
std::thread StartNamedThread(std::string name, std::function<void()> body);

}  // namespace meshsim
