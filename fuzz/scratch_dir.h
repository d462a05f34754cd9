// Where an RPC fuzzer keeps its coordinator's state: a fresh directory in
// $MESHSIM_FUZZ_SCRATCH when set (tests/fuzz/fuzz_test.sh removes that even
// after a crash), else in /dev/shm (in memory: submitted jobs cost no disk
// flushes). Aborts when it cannot make one.
#pragma once

#include <stdlib.h>

#include <string>

namespace meshsim::fuzz {

inline std::string MakeScratchDir(const std::string& name) {
  const char* scratch = getenv("MESHSIM_FUZZ_SCRATCH");
  std::string dir = std::string(scratch != nullptr ? scratch : "/dev/shm") + "/" + name + "-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) abort();
  return dir;
}

}  // namespace meshsim::fuzz
