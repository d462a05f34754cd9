#include "common/sim/model.h"

#include <bit>

#include "common/status/format.h"
#include "common/status/status.h"

namespace meshsim::sim {

void ResultFolder::Mix(uint64_t value) { *hash_ = Mix64(*hash_ ^ (value + 0x9e3779b97f4a7c15ULL)); }

void ResultFolder::MixDouble(double value) { Mix(std::bit_cast<uint64_t>(value)); }

void ResultFolder::AddToSeries(size_t series, size_t point, int64_t value) {
  MESHSIM_CHECK(point < series_points_ && (series + 1) * series_points_ <= series_.size(),
                "series point out of range");
  series_[series * series_points_ + point] += value;
}

void Model::SaveState(LpContext& lp, StateWriter& out) { out.PutBytes({lp.state_, state_bytes()}); }

absl::Status Model::RestoreState(LpContext& lp, StateReader& in) {
  if (in.remaining() != state_bytes() || !in.GetBytes({lp.state_, state_bytes()})) {
    return absl::DataLossError(StrCat("lp ", lp.lp(), ": checkpointed state of ", in.remaining(),
                                      " bytes, the model's is ", state_bytes()));
  }
  return absl::OkStatus();
}

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
