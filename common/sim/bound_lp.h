// The kernel's side of the model API: the fields behind the LpContext and
// ResultFolder a model callback gets. Models reach them only through the
// SDK's out-of-line functions (include/meshsim/model.h, defined in
// kernel.cc and model.cc), so these fields can change without a plugin ABI
// change; the kernel is the only code that makes or reads them.
#pragma once

#include <cstdint>
#include <span>

#include "meshsim/model.h"

namespace meshsim::sim {

class Kernel;

struct BoundLp final : LpContext {
  static BoundLp& Of(LpContext& context) { return static_cast<BoundLp&>(context); }
  static const BoundLp& Of(const LpContext& context) { return static_cast<const BoundLp&>(context); }

  Kernel* kernel = nullptr;
  LpId lp_id = 0;
  double time = 0;
  Rng* rng_stream = nullptr;
  std::span<std::byte> state;  // state_bytes() of the LP's block
  uint64_t* sent = nullptr;    // the LP's next src_seq
};

struct BoundFolder final : ResultFolder {
  static BoundFolder& Of(ResultFolder& folder) { return static_cast<BoundFolder&>(folder); }
  static const BoundFolder& Of(const ResultFolder& folder) { return static_cast<const BoundFolder&>(folder); }

  uint64_t* lp_hash = nullptr;
  std::span<int64_t> summary;
  std::span<int64_t> series;  // series_points values per series, series after series
  size_t series_points = 0;
  double series_interval = 0;
};

}  // namespace meshsim::sim
