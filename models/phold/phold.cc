// Built against the SDK alone (models/CMakeLists.txt): its own header is
// found beside it, as an out-of-tree plugin finds its own.
#include "phold.h"

#include <bit>
#include <cstring>
#include <vector>

#include "fmt/format.h"

namespace meshsim::models {
namespace {

struct PholdLpState {
  uint64_t history;       // hash of every event processed, in order
  uint64_t remote_sends;  // events sent to another LP
  uint64_t payload_errors;
};

enum SummaryField : size_t { kRemoteSends, kPayloadErrors };

// The first 8 payload bytes carry a tag derived from (src_lp, time), which
// the receiver checks: a cheap end-to-end integrity check of the data plane.
uint64_t PayloadTag(sim::LpId src, double time) { return sim::Mix64(src ^ std::bit_cast<uint64_t>(time)); }

class Phold final : public sim::Model {
 public:
  Phold(uint64_t lps, uint64_t start_events, double remote_fraction, double mean, double lookahead,
        size_t payload_bytes)
      : lps_(lps),
        start_events_(start_events),
        remote_fraction_(remote_fraction),
        lookahead_(lookahead),
        exp_mean_(mean - lookahead),
        payload_(payload_bytes, std::byte{0x5a}) {}

  uint64_t lp_count() const override { return lps_; }
  size_t state_bytes() const override { return sizeof(PholdLpState); }
  size_t max_payload_bytes() const override { return payload_.size(); }
  uint64_t initial_events() const override { return lps_ * start_events_; }
  std::vector<std::string> summary_fields() const override { return {"remote_sends", "payload_errors"}; }

  absl::Status Init(sim::LpContext& lp) override {
    const sim::LpId self = lp.lp();
    for (uint64_t i = 0; i < start_events_; ++i) {
      if (auto status = SendNext(lp, lp.rng(), self, self); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::Status OnEvent(sim::LpContext& lp, const sim::Event& event) override {
    auto& state = lp.state<PholdLpState>();
    state.history = sim::Mix64(state.history ^ std::bit_cast<uint64_t>(event.time)) +
                    (static_cast<uint64_t>(event.src_lp) << 32 | event.src_seq);
    if (event.payload.size() >= sizeof(uint64_t)) {
      uint64_t tag;
      std::memcpy(&tag, event.payload.data(), sizeof(tag));
      if (tag != PayloadTag(event.src_lp, event.time)) ++state.payload_errors;
    }
    // Each LpContext accessor is a call across the SDK boundary: take them once.
    const sim::LpId self = lp.lp();
    sim::Rng& rng = lp.rng();
    sim::LpId dst = self;
    if (rng.Uniform() <= remote_fraction_) dst = static_cast<sim::LpId>(rng.Below(lps_));
    if (dst != self) ++state.remote_sends;
    return SendNext(lp, rng, self, dst);
  }

  // Field by field, so the checkpoint layout does not follow the struct's.
  void SaveState(sim::LpContext& lp, sim::StateWriter& out) override {
    const auto& state = lp.state<PholdLpState>();
    out.Put(state.history);
    out.Put(state.remote_sends);
    out.Put(state.payload_errors);
  }

  absl::Status RestoreState(sim::LpContext& lp, sim::StateReader& in) override {
    auto& state = lp.state<PholdLpState>();
    if (!in.Get(&state.history) || !in.Get(&state.remote_sends) || !in.Get(&state.payload_errors) ||
        in.remaining() != 0) {
      return absl::DataLossError(fmt::format("lp {}: not a phold state", lp.lp()));
    }
    return absl::OkStatus();
  }

  void Fold(sim::LpContext& lp, sim::ResultFolder& out) override {
    const auto& state = lp.state<PholdLpState>();
    out.Mix(state.history);
    out.Mix(state.remote_sends);
    out.Add(kRemoteSends, static_cast<int64_t>(state.remote_sends));
    out.Add(kPayloadErrors, static_cast<int64_t>(state.payload_errors));
  }

 private:
  absl::Status SendNext(sim::LpContext& lp, sim::Rng& rng, sim::LpId self, sim::LpId dst) {
    const double delay = lookahead_ + rng.Exponential(exp_mean_);
    if (payload_.size() >= sizeof(uint64_t)) {
      const uint64_t tag = PayloadTag(self, lp.now() + delay);
      std::memcpy(payload_.data(), &tag, sizeof(tag));
    }
    return lp.Send(dst, delay, payload_);
  }

  uint64_t lps_;
  uint64_t start_events_;
  double remote_fraction_;
  double lookahead_;
  double exp_mean_;
  std::vector<std::byte> payload_;  // reused for every send
};

}  // namespace

sim::ModelInfo PholdModelInfo() {
  using Kind = sim::ParamSpec::Kind;
  sim::ModelInfo info;
  info.name = "phold";
  info.description = "PHOLD benchmark (ROSS semantics): a constant population of events hopping between LPs";
  info.params = {
      {"lps", Kind::kInteger, 1, 100'000'000, 1024, "number of logical processes"},
      {"start_events", Kind::kInteger, 1, 1'000'000, 1, "events each LP starts with"},
      {"remote_fraction", Kind::kReal, 0, 1, 0.1,
       "probability that an event goes to a uniformly drawn LP instead of itself"},
      {"mean", Kind::kReal, 0, 1e12, 1.0, "mean total delay (lookahead + exponential part)"},
      {"payload_bytes", Kind::kInteger, 0, static_cast<double>(sim::kMaxEventPayloadBytes), 0,
       "bytes of payload per event"},
  };
  info.create = [](const sim::ModelContext& context) -> absl::StatusOr<std::unique_ptr<sim::Model>> {
    const auto& p = context.params;
    const double mean = p.at("mean");
    if (mean < context.lookahead) {
      return absl::InvalidArgumentError(
          fmt::format("params.mean: {} is below the lookahead {} (mean is the total mean delay)", mean,
                      context.lookahead));
    }
    return std::make_unique<Phold>(static_cast<uint64_t>(p.at("lps")),
                                   static_cast<uint64_t>(p.at("start_events")), p.at("remote_fraction"), mean,
                                   context.lookahead, static_cast<size_t>(p.at("payload_bytes")));
  };
  return info;
}

}  // namespace meshsim::models
