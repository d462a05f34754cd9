// The models a process knows, by name: the built-in ones
// (models/builtin.h) and the plugins it loaded (common/sim/plugin_loader.h).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "meshsim/model.h"

namespace meshsim::sim {

// The models this binary knows, by name.
class ModelRegistry {
 public:
  // The registry with every model shipped in models/ (registered by
  // meshsim::models::RegisterBuiltinModels).
  static ModelRegistry& Global();

  void Register(ModelInfo info);
  const ModelInfo* Find(std::string_view name) const;
  std::vector<const ModelInfo*> List() const;

 private:
  std::map<std::string, ModelInfo, std::less<>> models_;
};

}  // namespace meshsim::sim
