// An open Jackson network as a meshsim model plugin, built only against the
// installed SDK (find_package(meshsim); docs/models.md walks through it).
//
// Up to kMaxStations stations, one LP each. Station i has servers_i servers
// (M/M/c; 1 is M/M/1) with exponential service at service_rate_i each,
// FIFO, and Poisson arrivals from outside at arrival_rate_i. A customer
// leaving station i goes to station j with probability route_i_j and leaves
// the network with the rest. Moving between stations takes `transit` time
// units (an infinite-server delay, which keeps the network product-form and
// gives the lookahead: every event is sent at least `transit` ahead).
//
// A station decides each customer's departure when it arrives: FIFO service
// starts when the arrival finds a server free, and the earliest-free server
// takes it. So a station's state is the time each server becomes free, and
// the customer is sent on (or out) at once, `departure - now + transit` in
// the future. Over [warmup, end_time] each station measures its throughput,
// the time-average number of customers present (L) and their mean sojourn
// time (W), which examples/jackson/check.py compares with Jackson's theorem.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "meshsim/model.h"
#include "meshsim/plugin.h"

namespace jackson {
namespace {

namespace sim = meshsim::sim;

constexpr int kMaxStations = 4;
constexpr int kMaxServers = 8;
constexpr double kMicro = 1e6;  // summary counters are integers: sums in millionths

enum class Kind : unsigned char { kGenerate = 1, kArrive = 2 };

struct StationState {
  double next_external;  // the next arrival from outside (absolute time)
  std::array<double, kMaxServers> server_free;
  // Over [warmup, end_time]:
  uint64_t arrivals;     // customers that arrived
  double sojourn_sum;    // the sum of their sojourn times
  double customer_area;  // integral of the number of customers present
};

struct Station {
  double arrival_rate;
  double service_rate;
  int servers;
  std::array<double, kMaxStations> route;  // to each station; the rest leaves
};

class JacksonNetwork final : public sim::Model {
 public:
  JacksonNetwork(std::vector<Station> stations, double transit, double warmup, double end_time)
      : stations_(std::move(stations)), transit_(transit), warmup_(warmup), end_time_(end_time) {}

  uint64_t lp_count() const override { return stations_.size(); }
  size_t state_bytes() const override { return sizeof(StationState); }
  size_t max_payload_bytes() const override { return 1; }
  std::vector<std::string> summary_fields() const override {
    std::vector<std::string> fields;
    for (size_t i = 1; i <= stations_.size(); ++i) {
      fields.push_back(fmt::format("arrivals_{}", i));
      fields.push_back(fmt::format("sojourn_sum_micro_{}", i));
      fields.push_back(fmt::format("customer_area_micro_{}", i));
    }
    return fields;
  }

  absl::Status Init(sim::LpContext& lp) override {
    auto& state = lp.state<StationState>();
    const Station& station = stations_[lp.lp()];
    if (station.arrival_rate <= 0) return absl::OkStatus();  // no arrivals from outside
    // External arrivals start at `transit`: each generation step at time g
    // sends the arrivals of [g + transit, g + 2 transit).
    state.next_external = transit_ + lp.rng().Exponential(1 / station.arrival_rate);
    return Generate(lp, state, station);
  }

  absl::Status OnEvent(sim::LpContext& lp, const sim::Event& event) override {
    auto& state = lp.state<StationState>();
    const Station& station = stations_[lp.lp()];
    if (event.payload.size() == 1 && static_cast<Kind>(event.payload[0]) == Kind::kGenerate) {
      return Generate(lp, state, station);
    }
    return Arrive(lp, state, station);
  }

  void Fold(sim::LpContext& lp, sim::ResultFolder& out) override {
    const auto& state = lp.state<StationState>();
    const size_t base = 3 * lp.lp();
    const auto sojourn = std::llround(state.sojourn_sum * kMicro);
    const auto area = std::llround(state.customer_area * kMicro);
    out.Add(base, static_cast<int64_t>(state.arrivals));
    out.Add(base + 1, sojourn);
    out.Add(base + 2, area);
    out.Mix(state.arrivals);
    out.Mix(static_cast<uint64_t>(sojourn));
    out.Mix(static_cast<uint64_t>(area));
  }

 private:
  absl::Status Generate(sim::LpContext& lp, StationState& state, const Station& station) {
    const double horizon = lp.now() + 2 * transit_;
    while (state.next_external < horizon && state.next_external <= end_time_) {
      if (auto status = lp.Send(lp.lp(), state.next_external - lp.now(), Payload(Kind::kArrive));
          !status.ok()) {
        return status;
      }
      state.next_external += lp.rng().Exponential(1 / station.arrival_rate);
    }
    if (lp.now() + transit_ > end_time_) return absl::OkStatus();
    return lp.Send(lp.lp(), transit_, Payload(Kind::kGenerate));
  }

  absl::Status Arrive(sim::LpContext& lp, StationState& state, const Station& station) {
    const double arrival = lp.now();
    auto server = std::min_element(state.server_free.begin(), state.server_free.begin() + station.servers);
    const double departure = std::max(arrival, *server) + lp.rng().Exponential(1 / station.service_rate);
    *server = departure;
    if (arrival >= warmup_ && arrival <= end_time_) {
      ++state.arrivals;
      state.sojourn_sum += departure - arrival;
    }
    state.customer_area += std::max(0.0, std::min(departure, end_time_) - std::max(arrival, warmup_));

    // Where it goes when it leaves: the first station whose cumulative
    // routing probability exceeds the draw, or out of the network.
    double draw = lp.rng().Uniform();
    for (size_t next = 0; next < stations_.size(); ++next) {
      draw -= station.route[next];
      if (draw < 0) {
        return lp.Send(static_cast<sim::LpId>(next), departure - arrival + transit_, Payload(Kind::kArrive));
      }
    }
    return absl::OkStatus();
  }

  static std::span<const std::byte> Payload(Kind kind) {
    static const std::byte kGenerate{static_cast<unsigned char>(Kind::kGenerate)};
    static const std::byte kArrive{static_cast<unsigned char>(Kind::kArrive)};
    return {kind == Kind::kGenerate ? &kGenerate : &kArrive, 1};
  }

  std::vector<Station> stations_;
  double transit_;
  double warmup_;
  double end_time_;
};

std::string StationParam(const char* what, int station) { return fmt::format("{}_{}", what, station); }

// The arrival rate at each station from the traffic equations
// lambda = lambda0 + lambda P, by fixed-point iteration (P is substochastic
// with every customer eventually leaving, so it converges).
std::vector<double> TrafficRates(const std::vector<Station>& stations) {
  std::vector<double> rate(stations.size(), 0);
  for (int iteration = 0; iteration < 100000; ++iteration) {
    std::vector<double> next(stations.size());
    for (size_t j = 0; j < stations.size(); ++j) {
      next[j] = stations[j].arrival_rate;
      for (size_t i = 0; i < stations.size(); ++i) next[j] += rate[i] * stations[i].route[j];
    }
    rate.swap(next);
  }
  return rate;
}

absl::StatusOr<std::unique_ptr<sim::Model>> Create(const sim::ModelContext& context) {
  const auto& p = context.params;
  const int count = static_cast<int>(p.at("stations"));
  const double transit = p.at("transit");
  if (transit < context.lookahead) {
    return absl::InvalidArgumentError(
        fmt::format("params.transit: {} is below the lookahead {}", transit, context.lookahead));
  }
  if (p.at("warmup") >= context.end_time) {
    return absl::InvalidArgumentError(fmt::format(
        "params.warmup: {} leaves nothing of end_time {} to measure", p.at("warmup"), context.end_time));
  }
  std::vector<Station> stations(count);
  for (int i = 0; i < count; ++i) {
    Station& station = stations[i];
    station.arrival_rate = p.at(StationParam("arrival_rate", i + 1));
    station.service_rate = p.at(StationParam("service_rate", i + 1));
    station.servers = static_cast<int>(p.at(StationParam("servers", i + 1)));
    station.route.fill(0);
    double leaving = 1;
    for (int j = 0; j < count; ++j) {
      station.route[j] = p.at(fmt::format("route_{}_{}", i + 1, j + 1));
      leaving -= station.route[j];
    }
    if (leaving < -1e-12) {
      return absl::InvalidArgumentError(
          fmt::format("params.route_{}_*: the routing probabilities out of station {} sum to {}, more than 1",
                      i + 1, i + 1, 1 - leaving));
    }
  }
  const std::vector<double> rates = TrafficRates(stations);
  for (int i = 0; i < count; ++i) {
    const double capacity = stations[i].servers * stations[i].service_rate;
    if (!(rates[i] < capacity)) {
      return absl::InvalidArgumentError(
          fmt::format("station {} is unstable: customers arrive at rate {}, its {} servers serve at most {}",
                      i + 1, rates[i], stations[i].servers, capacity));
    }
  }
  return std::make_unique<JacksonNetwork>(std::move(stations), transit, p.at("warmup"), context.end_time);
}

sim::ModelInfo Info() {
  using Kind = sim::ParamSpec::Kind;
  sim::ModelInfo info;
  info.name = "jackson";
  info.description = "open Jackson network of M/M/c stations with probabilistic routing (example plugin)";
  info.params = {
      {"stations", Kind::kInteger, 1, kMaxStations, 3, "number of stations"},
      {"transit", Kind::kReal, 0, 1e6, 0.1, "time to move between stations (at least the lookahead)"},
      {"warmup", Kind::kReal, 0, 1e12, 1000, "statistics are measured from this time on"},
  };
  for (int i = 1; i <= kMaxStations; ++i) {
    info.params.push_back({StationParam("arrival_rate", i), Kind::kReal, 0, 1e6, 0,
                           fmt::format("station {}: Poisson arrivals from outside per time unit", i)});
    info.params.push_back({StationParam("service_rate", i), Kind::kReal, 1e-9, 1e6, 1,
                           fmt::format("station {}: rate of each server", i)});
    info.params.push_back({StationParam("servers", i), Kind::kInteger, 1, kMaxServers, 1,
                           fmt::format("station {}: servers", i)});
    for (int j = 1; j <= kMaxStations; ++j) {
      info.params.push_back(
          {fmt::format("route_{}_{}", i, j), Kind::kReal, 0, 1, 0,
           fmt::format("probability that a customer leaving station {} goes to station {}", i, j)});
    }
  }
  info.create = Create;
  return info;
}

}  // namespace
}  // namespace jackson

MESHSIM_MODEL_PLUGIN("1.0.0", jackson::Info)
