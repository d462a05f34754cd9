// Built against the SDK alone (models/CMakeLists.txt): its own header is
// found beside it, as an out-of-tree plugin finds its own.
#include "epidemic.h"

#include <cmath>
#include <cstring>
#include <numeric>

#include "fmt/format.h"
#include "meshsim/status.h"

namespace meshsim::models {
namespace {

enum Layer : uint8_t { kNotInfected = 0, kSeed, kCommunity, kHousehold, kWorkplace };

enum MessageKind : uint8_t {
  kContact = 1,     // direct, community layer: infects a susceptible target
  kInfectious = 2,  // mailbox post: the poster is infectious over [from, until)
  kAttempt = 3,     // to self: the infection drawn from an announcement
};

// Payload: kind, layer, then the infectious period (announcements only).
struct Message {
  MessageKind kind;
  Layer layer;
  double from = 0;
  double until = 0;
};
constexpr size_t kMessageBytes = 2 + 2 * sizeof(double);

struct Person {
  double exposed_at;
  double infectious_at;
  double recovered_at;
  Layer infected_via;  // kNotInfected while susceptible
};

enum SummaryField : size_t {
  kInfected,
  kInfectedSeed,
  kInfectedCommunity,
  kInfectedHousehold,
  kInfectedWorkplace,
  kAnnouncements,
};
enum Series : size_t { kSusceptible, kExposed, kInfectiousSeries, kRecovered };

struct EpidemicParams {
  uint64_t persons;
  uint64_t initial_infected;
  double latent_days;
  double infectious_days;
  double community_rate;
  uint64_t friends;
  uint64_t household_size;
  double household_rate;
  uint64_t workplace_size;
  double workplace_rate;
};

class Epidemic final : public sim::Model {
 public:
  Epidemic(const EpidemicParams& params, uint64_t seed, double lookahead)
      : p_(params),
        lookahead_(lookahead),
        network_seed_(sim::Mix64(seed ^ 0x6e6574776f726bULL)),
        workplace_stride_(CoprimeStride(params.persons)) {}

  uint64_t lp_count() const override { return p_.persons; }
  size_t state_bytes() const override { return sizeof(Person); }
  size_t max_payload_bytes() const override { return kMessageBytes; }
  std::vector<std::string> summary_fields() const override {
    return {"infected",           "infected_seed",      "infected_community",
            "infected_household", "infected_workplace", "announcements"};
  }
  sim::SeriesSpec series() const override {
    return {{"susceptible", "exposed", "infectious", "recovered"}, 1.0};
  }

  absl::Status Init(sim::LpContext& lp) override {
    MESHSIM_RETURN_IF_ERROR(Subscribe(lp));
    if (IsSeed(lp.lp())) return Infect(lp, kSeed);
    return absl::OkStatus();
  }

  void SaveState(sim::LpContext& lp, sim::StateWriter& out) override {
    const Person& person = lp.state<Person>();
    out.Put(person.infected_via);
    if (person.infected_via == kNotInfected) return;  // most of a town, most of the time
    out.Put(person.exposed_at);
    out.Put(person.infectious_at);
    out.Put(person.recovered_at);
  }

  absl::Status RestoreState(sim::LpContext& lp, sim::StateReader& in) override {
    MESHSIM_RETURN_IF_ERROR(Subscribe(lp));
    Person& person = lp.state<Person>();
    bool ok = in.Get(&person.infected_via) && person.infected_via <= kWorkplace;
    if (ok && person.infected_via != kNotInfected) {
      ok = in.Get(&person.exposed_at) && in.Get(&person.infectious_at) && in.Get(&person.recovered_at);
    }
    if (!ok || in.remaining() != 0)
      return absl::DataLossError(fmt::format("lp {}: not an epidemic state", lp.lp()));
    return absl::OkStatus();
  }

  absl::Status OnEvent(sim::LpContext& lp, const sim::Event& event) override {
    const Message message = Decode(event.payload);
    const bool susceptible = lp.state<Person>().infected_via == kNotInfected;
    switch (message.kind) {
      case kContact:
        return susceptible ? Infect(lp, kCommunity) : absl::OkStatus();
      case kAttempt:
        return susceptible ? Infect(lp, message.layer) : absl::OkStatus();
      case kInfectious: {
        if (!susceptible || event.src_lp == lp.lp()) return absl::OkStatus();
        const double rate = message.layer == kHousehold ? p_.household_rate : p_.workplace_rate;
        if (rate <= 0) return absl::OkStatus();
        const double at = message.from + lp.rng().Exponential(1 / rate);
        if (at >= message.until) return absl::OkStatus();
        // `from` is at least 2 lookaheads after the post and the post
        // arrives one lookahead after it was sent, so the delay is a
        // lookahead up to rounding; the max absorbs the rounding.
        const double delay = std::max(at - lp.now(), lookahead_);
        return lp.Send(lp.lp(), delay, Encode({kAttempt, message.layer}));
      }
    }
    return absl::InternalError(fmt::format("lp {}: event of unknown kind {}", lp.lp(), int{message.kind}));
  }

  void Fold(sim::LpContext& lp, sim::ResultFolder& out) override {
    const Person& person = lp.state<Person>();
    out.Mix(person.infected_via);
    if (person.infected_via != kNotInfected) {
      out.MixDouble(person.exposed_at);
      out.MixDouble(person.recovered_at);
      out.Add(kInfected, 1);
      out.Add(kInfectedSeed + (person.infected_via - kSeed), 1);
      out.Add(kAnnouncements, HasHouseholds() + HasWorkplaces());
    }
    // The person's state at the start of each day.
    for (size_t point = 0; point < out.series_points(); ++point) {
      const double t = out.series_time(point);
      Series state = kSusceptible;
      if (person.infected_via != kNotInfected && t >= person.exposed_at) {
        state = t < person.infectious_at  ? kExposed
                : t < person.recovered_at ? kInfectiousSeries
                                          : kRecovered;
      }
      out.AddToSeries(state, point, 1);
    }
  }

 private:
  bool HasHouseholds() const { return p_.household_size > 1; }
  // The person's household and workplace, from Init and from RestoreState.
  absl::Status Subscribe(sim::LpContext& lp) {
    if (HasHouseholds()) MESHSIM_RETURN_IF_ERROR(lp.Subscribe(MailboxName(kHousehold, lp.lp())));
    if (HasWorkplaces()) MESHSIM_RETURN_IF_ERROR(lp.Subscribe(MailboxName(kWorkplace, lp.lp())));
    return absl::OkStatus();
  }
  bool HasWorkplaces() const { return p_.workplace_size > 1; }

  // Persons floor(k * persons / initial_infected), k = 0..initial-1: spread
  // evenly, the same set on any partition.
  bool IsSeed(sim::LpId lp) const {
    const uint64_t k = (lp * p_.initial_infected + p_.persons - 1) / p_.persons;
    return k < p_.initial_infected && k * p_.persons / p_.initial_infected == lp;
  }

  // A stride coprime with the population, near its golden section, maps
  // persons onto workplaces so that neighbours (households, and blocks of
  // a block partition) work in different places.
  static uint64_t CoprimeStride(uint64_t n) {
    uint64_t stride = std::max<uint64_t>(1, static_cast<uint64_t>(0.6180339887 * static_cast<double>(n)));
    while (std::gcd(stride, n) != 1) --stride;
    return stride;
  }

  std::string_view MailboxName(Layer layer, sim::LpId lp) {
    const uint64_t group = layer == kHousehold ? lp / p_.household_size
                                               : (lp * workplace_stride_ % p_.persons) / p_.workplace_size;
    const auto end = fmt::format_to_n(name_buffer_, sizeof(name_buffer_), "{}/{}",
                                      layer == kHousehold ? "household" : "workplace", group);
    return {name_buffer_, end.out};
  }

  sim::LpId CommunityContact(sim::LpContext& lp) {
    const uint64_t others = p_.persons - 1;
    uint64_t target;
    if (p_.friends == 0) {
      target = lp.rng().Below(others);
    } else {
      // The person's j-th friend: a function of (seed, person, j) only.
      const uint64_t j = lp.rng().Below(p_.friends);
      target = sim::Mix64(network_seed_ ^ (uint64_t{lp.lp()} << 16 | j)) % others;
    }
    return static_cast<sim::LpId>(target >= lp.lp() ? target + 1 : target);  // never oneself
  }

  absl::Status Infect(sim::LpContext& lp, Layer via) {
    Person& person = lp.state<Person>();
    const double infectious_days = lp.rng().Exponential(p_.infectious_days);
    person.infected_via = via;
    person.exposed_at = lp.now();
    person.infectious_at = lp.now() + p_.latent_days;
    person.recovered_at = person.infectious_at + infectious_days;
    if (p_.community_rate > 0) {
      const double mean_gap = 1 / p_.community_rate;
      const auto contact = Encode({kContact, kCommunity});
      for (double t = lp.rng().Exponential(mean_gap); t < infectious_days;
           t += lp.rng().Exponential(mean_gap)) {
        MESHSIM_RETURN_IF_ERROR(lp.Send(CommunityContact(lp), p_.latent_days + t, contact));
      }
    }
    for (Layer layer : {kHousehold, kWorkplace}) {
      if (layer == kHousehold ? !HasHouseholds() : !HasWorkplaces()) continue;
      MESHSIM_RETURN_IF_ERROR(
          lp.Post(MailboxName(layer, lp.lp()), lookahead_,
                  Encode({kInfectious, layer, person.infectious_at, person.recovered_at})));
    }
    return absl::OkStatus();
  }

  std::span<const std::byte> Encode(const Message& message) {
    payload_[0] = std::byte{message.kind};
    payload_[1] = std::byte{message.layer};
    std::memcpy(payload_ + 2, &message.from, sizeof(double));
    std::memcpy(payload_ + 2 + sizeof(double), &message.until, sizeof(double));
    return {payload_, message.kind == kInfectious ? kMessageBytes : 2};
  }

  static Message Decode(std::span<const std::byte> payload) {
    Message message{static_cast<MessageKind>(payload[0]), static_cast<Layer>(payload[1])};
    if (payload.size() == kMessageBytes) {
      std::memcpy(&message.from, payload.data() + 2, sizeof(double));
      std::memcpy(&message.until, payload.data() + 2 + sizeof(double), sizeof(double));
    }
    return message;
  }

  EpidemicParams p_;
  double lookahead_;
  uint64_t network_seed_;
  uint64_t workplace_stride_;
  char name_buffer_[64];
  std::byte payload_[kMessageBytes];
};

}  // namespace

sim::ModelInfo EpidemicModelInfo() {
  using Kind = sim::ParamSpec::Kind;
  sim::ModelInfo info;
  info.name = "epidemic";
  info.description =
      "SEIR epidemic over households and workplaces (mailboxes) and a community contact network (direct "
      "sends); reports S/E/I/R per day";
  info.params = {
      {"persons", Kind::kInteger, 2, 100'000'000, 20000, "population size (one LP per person)"},
      {"initial_infected", Kind::kInteger, 1, 100'000'000, 10, "persons infected at time 0"},
      {"latent_days", Kind::kReal, 0, 1e6, 2, "days from infection to infectiousness (>= 2 * lookahead)"},
      {"infectious_days", Kind::kReal, 1e-6, 1e6, 4, "mean days infectious (exponentially distributed)"},
      {"community_rate", Kind::kReal, 0, 1e4, 0.15,
       "community contacts per infectious day; each infects a susceptible contact"},
      {"friends", Kind::kInteger, 0, 100'000, 8,
       "fixed community contacts per person; 0 = anyone (well-mixed)"},
      {"household_size", Kind::kInteger, 1, 100'000'000, 4, "persons per household; 1 = no household layer"},
      {"household_rate", Kind::kReal, 0, 1e4, 0.1,
       "infection rate per day between two members of a household"},
      {"workplace_size", Kind::kInteger, 0, 100'000'000, 20, "persons per workplace; 0 or 1 = no workplaces"},
      {"workplace_rate", Kind::kReal, 0, 1e4, 0.01,
       "infection rate per day between two members of a workplace"},
  };
  info.create = [](const sim::ModelContext& context) -> absl::StatusOr<std::unique_ptr<sim::Model>> {
    const auto& p = context.params;
    const auto integer = [&](const char* name) { return static_cast<uint64_t>(p.at(name)); };
    EpidemicParams params{integer("persons"),        integer("initial_infected"), p.at("latent_days"),
                          p.at("infectious_days"),   p.at("community_rate"),      integer("friends"),
                          integer("household_size"), p.at("household_rate"),      integer("workplace_size"),
                          p.at("workplace_rate")};
    if (params.initial_infected > params.persons) {
      return absl::InvalidArgumentError(fmt::format("params.initial_infected: {} is more than the {} persons",
                                                    params.initial_infected, params.persons));
    }
    if (params.latent_days < 2 * context.lookahead) {
      return absl::InvalidArgumentError(
          fmt::format("params.latent_days: {} is below twice the lookahead ({}); infections drawn from an "
                      "announcement must be a lookahead away",
                      params.latent_days, 2 * context.lookahead));
    }
    if (context.end_time > 100'000) {
      return absl::InvalidArgumentError(fmt::format(
          "end_time: {} days is more than the 100000 the daily series can hold", context.end_time));
    }
    return std::make_unique<Epidemic>(params, context.seed, context.lookahead);
  };
  return info;
}

}  // namespace meshsim::models
