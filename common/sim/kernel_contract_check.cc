// The model-contract check (scenario optimism.check_every). Under
// optimistic synchronization the kernel undoes an event by putting back the
// LP's state block, stream and send counter, and later runs the event again;
// that is only right when OnEvent depends on nothing else and changes
// nothing else (include/meshsim/model.h). A model that keeps a counter in
// its model object, reads a clock or a global, gives a different result
// after a rollback. The check finds it directly: a sampled event is run a
// second time from its saved state, with its sends kept in, and both runs
// must agree on everything the LP can change.
#include <algorithm>
#include <cstring>

#include "common/sim/fnv1a.h"
#include "common/sim/kernel.h"
#include "common/status/status.h"
#include "common/strings/format.h"

namespace meshsim::sim {

void Kernel::EnableContractCheck(uint64_t every, std::string_view model_name) {
  MESHSIM_CHECK(history_ != nullptr, "the model-contract check needs rollback enabled");
  check_.every = every;
  check_.until_next = every;
  check_.model_name = std::string(model_name);
  check_.state_after.resize(state_bytes_);
  for (auto& sends : check_.sends) sends.reserve(16);
}

bool Kernel::NoteForCheck(double time, uint64_t destination, std::span<const std::byte> payload) {
  check_.sends[check_.rerunning ? 1 : 0].push_back({time, destination, Fnv1a(payload)});
  return !check_.rerunning;
}

absl::Status Kernel::CheckByRerunning(uint64_t record_index, uint32_t local) {
  ++optimistic_.contract_checks;
  const ProcessedHistory::Record& record = history_->at(record_index);
  std::byte* state = state_.data() + local * state_stride_;
  std::memcpy(check_.state_after.data(), state, state_bytes_);
  const Rng rng_after = rngs_[local];
  const uint64_t sent_after = sent_[local];
  // Back to just before the event, as a rollback puts it, and once more.
  std::memcpy(state, history_->state_at(record_index).data(), state_bytes_);
  rngs_[local] = record.rng_before;
  sent_[local] = record.sent_before;
  check_.sends[1].clear();
  check_.rerunning = true;
  const Event event{record.time, record.dst_lp, record.src_lp, record.src_seq,
                    history_->payload_at(record_index)};
  const absl::Status rerun = model_->OnEvent(Bind(local, record.time), event);
  check_.rerunning = false;
  check_.recording = false;

  std::string difference;
  const auto& first = check_.sends[0];
  const auto& second = check_.sends[1];
  if (!rerun.ok()) {
    difference = StrCat("failed the second time (", rerun.message(), ")");
  } else if (std::memcmp(check_.state_after.data(), state, state_bytes_) != 0) {
    const auto byte = std::mismatch(check_.state_after.begin(), check_.state_after.end(), state).first -
                      check_.state_after.begin();
    difference = StrCat("left a different state block (first at byte ", byte, " of ", state_bytes_, ")");
  } else if (rngs_[local].state() != rng_after.state()) {
    difference = "drew a different amount from the LP's random stream";
  } else if (first.size() != second.size() || sent_[local] != sent_after) {
    difference = StrCat("sent or posted ", second.size(), " events instead of ", first.size());
  } else if (const auto where = std::mismatch(first.begin(), first.end(), second.begin());
             where.first != first.end()) {
    const size_t i = where.first - first.begin();
    difference = StrCat("made a different send ", i + 1, " of ", first.size(), " (t=", where.second->time,
                        " instead of t=", where.first->time,
                        where.first->destination != where.second->destination     ? ", another destination"
                        : where.first->payload_hash != where.second->payload_hash ? ", another payload"
                                                                                  : "",
                        ")");
  }
  if (difference.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(StrCat(
      "model '", check_.model_name, "' breaks the contract optimistic synchronization needs: the event at t=",
      record.time, " for lp ", record.dst_lp, " (from lp ", record.src_lp, ", its send #", record.src_seq,
      "), run again from the LP's saved state, ", difference,
      ". OnEvent may read and change only its LP's state, stream and the event; the model object is "
      "read-only during a run (include/meshsim/model.h); until it is fixed, run it with sync: "
      "conservative."));
}

}  // namespace meshsim::sim
