#include "models/builtin.h"

#include <mutex>

#include "common/sim/model_registry.h"
#include "meshsim/model.h"
#include "models/epidemic/epidemic.h"
#include "models/phold/phold.h"

namespace meshsim::models {

void RegisterBuiltinModels() {
  static std::once_flag once;
  std::call_once(once, [] {
    sim::ModelRegistry::Global().Register(PholdModelInfo());
    sim::ModelRegistry::Global().Register(EpidemicModelInfo());
  });
}

}  // namespace meshsim::models
