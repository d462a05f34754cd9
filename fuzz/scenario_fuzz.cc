// libFuzzer: a scenario as `meshsim validate` reads a file and as the
// coordinator takes YAML over the network (SubmitJob): parsed, checked
// against the models, every problem reported, nothing thrown or crashed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/scenario/scenario.h"
#include "models/builtin.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  meshsim::models::RegisterBuiltinModels();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)meshsim::scenario::ParseYaml(text, "fuzz.yaml");
  return 0;
}
