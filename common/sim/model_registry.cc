#include "common/sim/model_registry.h"

#include "common/status/status.h"

namespace meshsim::sim {

ModelRegistry& ModelRegistry::Global() {
  static ModelRegistry registry;
  return registry;
}

void ModelRegistry::Register(ModelInfo info) {
  MESHSIM_CHECK(!models_.contains(info.name), "model registered twice: " + info.name);
  std::string name = info.name;
  models_.emplace(std::move(name), std::move(info));
}

const ModelInfo* ModelRegistry::Find(std::string_view name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

std::vector<const ModelInfo*> ModelRegistry::List() const {
  std::vector<const ModelInfo*> out;
  for (const auto& [name, info] : models_) out.push_back(&info);
  return out;
}

}  // namespace meshsim::sim
