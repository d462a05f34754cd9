// A model plugin for the plugin tests (tests/integration/plugin_test.cc),
// built twice with a different TEST_MODEL_SALT: two builds of "testmodel"
// 1.0.0 that differ in their bytes, as two builds of a user's model would.
// Each LP sends itself `hops` events; the digest mixes the salt, so the two
// builds would also compute different results. `throw_in_init` and
// `throw_at` make the model throw, as a misbehaving plugin would;
// `init_seconds` makes each node's set-up take that long, as a model of
// 10^7 LPs would; `grow_at` makes each event from that time on keep
// another MiB, as a model that leaks would.
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "meshsim/model.h"
#include "meshsim/plugin.h"

namespace {

namespace sim = meshsim::sim;

struct Counter {
  uint64_t events;
};

class TestModel final : public sim::Model {
 public:
  TestModel(uint64_t lps, double throw_in_init, double throw_at, double init_seconds, double grow_at)
      : lps_(lps),
        throw_in_init_(throw_in_init != 0),
        throw_at_(throw_at),
        init_seconds_(init_seconds),
        grow_at_(grow_at) {}
  uint64_t lp_count() const override { return lps_; }
  size_t state_bytes() const override { return sizeof(Counter); }
  std::vector<std::string> summary_fields() const override { return {"events"}; }

  absl::Status Init(sim::LpContext& lp) override {
    if (init_seconds_ > 0 && !slept_) {
      std::this_thread::sleep_for(std::chrono::duration<double>(init_seconds_));
      slept_ = true;  // once per node: every node has a model of its own
    }
    if (throw_in_init_ && lp.lp() == lps_ - 1) throw std::runtime_error("init exploded on purpose");
    return lp.Send(lp.lp(), lp.lookahead());
  }
  absl::Status OnEvent(sim::LpContext& lp, const sim::Event&) override {
    if (throw_at_ > 0 && lp.now() >= throw_at_) throw std::logic_error("event handler exploded on purpose");
    if (grow_at_ > 0 && lp.now() >= grow_at_) {
      kept_.emplace_back(1 << 20);
      kept_.back().front() = 1;  // touched, so it is resident
    }
    ++lp.state<Counter>().events;
    return lp.Send(lp.lp(), lp.lookahead() * (1 + lp.rng().Uniform()));
  }
  void Fold(sim::LpContext& lp, sim::ResultFolder& out) override {
    out.Mix(lp.state<Counter>().events ^ TEST_MODEL_SALT);
    out.Add(0, static_cast<int64_t>(lp.state<Counter>().events));
  }

 private:
  uint64_t lps_;
  bool throw_in_init_;
  double throw_at_;
  double init_seconds_;
  double grow_at_;
  bool slept_ = false;
  std::vector<std::vector<char>> kept_;  // what the events from grow_at_ on keep
};

sim::ModelInfo Info() {
  using Kind = sim::ParamSpec::Kind;
  sim::ModelInfo info;
  info.name = "testmodel";
  info.description = "plugin test model";
  info.params = {{"lps", Kind::kInteger, 1, 1e6, 64, "LPs"},
                 {"throw_in_init", Kind::kInteger, 0, 1, 0, "1: the last LP's Init throws"},
                 {"throw_at", Kind::kReal, 0, 1e12, 0, "OnEvent throws from this time on (0: never)"},
                 {"init_seconds", Kind::kReal, 0, 600, 0, "each node's Init takes this long (0: no wait)"},
                 {"grow_at", Kind::kReal, 0, 1e12, 0, "from this time on each event keeps 1 MiB (0: never)"}};
  info.create = [](const sim::ModelContext& context) -> absl::StatusOr<std::unique_ptr<sim::Model>> {
    return std::make_unique<TestModel>(static_cast<uint64_t>(context.params.at("lps")),
                                       context.params.at("throw_in_init"), context.params.at("throw_at"),
                                       context.params.at("init_seconds"), context.params.at("grow_at"));
  };
  return info;
}

}  // namespace

MESHSIM_MODEL_PLUGIN("1.0.0", Info)
