// Registers every model shipped with meshsim in sim::ModelRegistry::Global().
#pragma once

namespace meshsim::models {

// Idempotent; call before looking models up.
void RegisterBuiltinModels();

}  // namespace meshsim::models
