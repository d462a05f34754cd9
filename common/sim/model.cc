#include "meshsim/model.h"

#include <bit>

#include "common/sim/bound_lp.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::sim {

void ResultFolder::Mix(uint64_t value) {
  uint64_t& hash = *BoundFolder::Of(*this).lp_hash;
  hash = Mix64(hash ^ (value + 0x9e3779b97f4a7c15ULL));
}

void ResultFolder::MixDouble(double value) { Mix(std::bit_cast<uint64_t>(value)); }

void ResultFolder::Add(size_t field, int64_t value) {
  std::span<int64_t> summary = BoundFolder::Of(*this).summary;
  MESHSIM_CHECK(field < summary.size(), "summary field out of range");
  summary[field] += value;
}

size_t ResultFolder::series_points() const { return BoundFolder::Of(*this).series_points; }

double ResultFolder::series_time(size_t point) const {
  return static_cast<double>(point) * BoundFolder::Of(*this).series_interval;
}

void ResultFolder::AddToSeries(size_t series, size_t point, int64_t value) {
  const BoundFolder& folder = BoundFolder::Of(*this);
  MESHSIM_CHECK(point < folder.series_points && (series + 1) * folder.series_points <= folder.series.size(),
                "series point out of range");
  folder.series[series * folder.series_points + point] += value;
}

void Model::SaveState(LpContext& lp, StateWriter& out) { out.PutBytes(lp.state_block()); }

absl::Status Model::RestoreState(LpContext& lp, StateReader& in) {
  if (in.remaining() != state_bytes() || !in.GetBytes(lp.state_block())) {
    return absl::DataLossError(StrCat("lp ", lp.lp(), ": checkpointed state of ", in.remaining(),
                                      " bytes, the model's is ", state_bytes()));
  }
  return absl::OkStatus();
}

}  // namespace meshsim::sim
