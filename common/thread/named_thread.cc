#include "common/thread/named_thread.h"

#include <pthread.h>

#include "spdlog/spdlog.h"

namespace meshsim {

std::thread StartNamedThread(std::string name, std::function<void()> body) {
  return std::thread([name = std::move(name), body = std::move(body)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    try {
      body();
    } catch (const std::exception& e) {
      spdlog::critical("thread {} stopped: {}", name, e.what());
    }
  });
}

}  // namespace meshsim
