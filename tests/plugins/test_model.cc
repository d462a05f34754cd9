// A model plugin for the plugin tests (tests/integration/plugin_test.cc),
// built twice with a different TEST_MODEL_SALT: two builds of "testmodel"
// 1.0.0 that differ in their bytes, as two builds of a user's model would.
// Each LP sends itself `hops` events; the digest mixes the salt, so the two
// builds would also compute different results. `throw_in_init` and
// `throw_at` make the model throw, as a misbehaving plugin would.
#include <stdexcept>
#include <string>
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
  TestModel(uint64_t lps, double throw_in_init, double throw_at)
      : lps_(lps), throw_in_init_(throw_in_init != 0), throw_at_(throw_at) {}
  uint64_t lp_count() const override { return lps_; }
  size_t state_bytes() const override { return sizeof(Counter); }
  std::vector<std::string> summary_fields() const override { return {"events"}; }

  absl::Status Init(sim::LpContext& lp) override {
    if (throw_in_init_ && lp.lp() == lps_ - 1) throw std::runtime_error("init exploded on purpose");
    return lp.Send(lp.lp(), lp.lookahead());
  }
  absl::Status OnEvent(sim::LpContext& lp, const sim::Event&) override {
    if (throw_at_ > 0 && lp.now() >= throw_at_) throw std::logic_error("event handler exploded on purpose");
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
};

sim::ModelInfo Info() {
  using Kind = sim::ParamSpec::Kind;
  sim::ModelInfo info;
  info.name = "testmodel";
  info.description = "plugin test model";
  info.params = {{"lps", Kind::kInteger, 1, 1e6, 64, "LPs"},
                 {"throw_in_init", Kind::kInteger, 0, 1, 0, "1: the last LP's Init throws"},
                 {"throw_at", Kind::kReal, 0, 1e12, 0, "OnEvent throws from this time on (0: never)"}};
  info.create = [](const sim::ModelContext& context) -> absl::StatusOr<std::unique_ptr<sim::Model>> {
    return std::make_unique<TestModel>(static_cast<uint64_t>(context.params.at("lps")),
                                       context.params.at("throw_in_init"), context.params.at("throw_at"));
  };
  return info;
}

}  // namespace

MESHSIM_MODEL_PLUGIN("1.0.0", Info)
