#include "meshsim/model.h"

#include <bit>

#include "common/status/status.h"
#include "common/strings/format.h"

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

}  // namespace meshsim::sim
