// The model API: what a simulation model implements and what it can call.
//
// A model is registered by name with its parameters (ModelInfo). For each
// job and node the kernel creates one Model instance, which sees only the
// LPs that node owns. Per-LP state lives in kernel-owned storage of
// state_bytes() per LP (zero-initialized, trivially copyable types only), so
// the model object itself holds no per-LP data and the same code runs on any
// partition.
//
// The contract optimistic synchronization relies on (it needs no other
// work from a model): OnEvent reads and changes only its LP's state block,
// random stream and the event, and sends only through the LpContext; the
// model object is read-only during a run. The kernel then undoes an event
// by putting those back and can run it again with the same effect. The
// scenario's optimism.check_every runs sampled events twice to find a model
// that breaks it (docs/models.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "meshsim/event.h"
#include "meshsim/rng.h"

namespace meshsim::sim {

class Kernel;

// The view a model callback gets of the LP it is running for.
// Valid only during that callback. A model holds it by reference and
// reaches everything through these functions; the kernel's own type behind
// it keeps the fields, so no field layout is part of the plugin ABI.
class LpContext {
 public:
  LpContext(const LpContext&) = delete;
  LpContext& operator=(const LpContext&) = delete;

  LpId lp() const;
  double now() const;
  Rng& rng();
  uint64_t lp_count() const;
  double lookahead() const;

  template <typename T>
  T& state() {
    static_assert(std::is_trivially_copyable_v<T>, "LP state must be trivially copyable");
    return *reinterpret_cast<T*>(state_block().data());
  }
  // The LP's whole state: Model::state_bytes() bytes, 8-byte aligned.
  std::span<std::byte> state_block();

  // Direct message passing: schedules an event at dst_lp at now() + delay.
  // INVALID_ARGUMENT when delay is below the lookahead or not finite, dst_lp
  // does not exist, or the payload exceeds the model's max_payload_bytes().
  [[nodiscard]] absl::Status Send(LpId dst_lp, double delay, std::span<const std::byte> payload = {});

  // Indirect message passing. Subscribe() joins this LP to the named
  // mailbox; it is allowed only during Model::Init (FAILED_PRECONDITION
  // otherwise), and subscribing twice is the same as once.
  [[nodiscard]] absl::Status Subscribe(std::string_view mailbox);
  // Schedules an event at now() + delay at every LP subscribed to `mailbox`,
  // on every node, the posting LP included if it subscribed. Each subscriber
  // sees it as an event from lp() with one src_seq, so it takes its place in
  // the same (time, src_lp, src_seq) order as a direct event. Same checks as
  // Send(); INVALID_ARGUMENT also when no LP of the job subscribes to the
  // mailbox. A post made during Init is checked for subscribers when every
  // node's Init is done, and fails the job then.
  [[nodiscard]] absl::Status Post(std::string_view mailbox, double delay,
                                  std::span<const std::byte> payload = {});

 protected:
  LpContext() = default;  // only the kernel makes one
  ~LpContext() = default;
};

// Time series a model reports: for each name, one value per point in time
// 0, interval, 2*interval, ... up to the job's end time, summed over LPs.
struct SeriesSpec {
  std::vector<std::string> names;
  double interval = 1;
};

// Writes one LP's state into a checkpoint (Model::SaveState). Values are
// copied as their bytes (little-endian on every platform meshsim builds for).
class StateWriter {
 public:
  explicit StateWriter(std::vector<std::byte>* out) : out_(out) {}
  void PutBytes(std::span<const std::byte> bytes) { out_->insert(out_->end(), bytes.begin(), bytes.end()); }
  template <typename T>
  void Put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>, "Put copies bytes");
    PutBytes(std::as_bytes(std::span<const T, 1>(&value, 1)));
  }

 private:
  std::vector<std::byte>* out_;
};

// Reads back what SaveState wrote (Model::RestoreState). Every read checks
// the bytes left, so a short or damaged record is an error, not a crash.
class StateReader {
 public:
  explicit StateReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  [[nodiscard]] bool GetBytes(std::span<std::byte> out) {
    if (out.size() > bytes_.size()) return false;
    std::copy_n(bytes_.begin(), out.size(), out.begin());
    bytes_ = bytes_.subspan(out.size());
    return true;
  }
  template <typename T>
  [[nodiscard]] bool Get(T* value) {
    static_assert(std::is_trivially_copyable_v<T>, "Get copies bytes");
    return GetBytes(std::as_writable_bytes(std::span<T, 1>(value, 1)));
  }
  size_t remaining() const { return bytes_.size(); }

 private:
  std::span<const std::byte> bytes_;
};

// Collects one LP's final state into the job's digest, summary and series.
// Like LpContext, reached only through functions.
class ResultFolder {
 public:
  ResultFolder(const ResultFolder&) = delete;
  ResultFolder& operator=(const ResultFolder&) = delete;

  // Mixes a value into this LP's digest; order of calls matters.
  void Mix(uint64_t value);
  void MixDouble(double value);
  // Adds to the model's summary counter `field` (index into summary_fields()).
  void Add(size_t field, int64_t value);

  // Points in each series (see SeriesSpec) and the time of point `point`.
  size_t series_points() const;
  double series_time(size_t point) const;
  // Adds to series `series` (index into SeriesSpec::names) at `point`.
  void AddToSeries(size_t series, size_t point, int64_t value);

 protected:
  ResultFolder() = default;  // only the kernel makes one
  ~ResultFolder() = default;
};

class Model {
 public:
  virtual ~Model() = default;

  // Number of LPs in the job.
  virtual uint64_t lp_count() const = 0;
  // Bytes of per-LP state (see LpContext::state<T>()).
  virtual size_t state_bytes() const = 0;
  // Largest payload this model sends.
  virtual size_t max_payload_bytes() const { return 0; }
  // About how many events the job's Init schedules in all (pending from
  // then on for a model that keeps its population, as PHOLD does). The
  // coordinator's memory estimate counts them (docs/models.md).
  virtual uint64_t initial_events() const { return lp_count(); }
  // Names of the summary counters, summed over all LPs of the job.
  virtual std::vector<std::string> summary_fields() const { return {}; }
  // The time series this model reports (none by default).
  virtual SeriesSpec series() const { return {}; }

  // Called once per LP at virtual time 0, in ascending LP order; with
  // RestoreState, the only place an LP may Subscribe() to mailboxes.
  [[nodiscard]] virtual absl::Status Init(LpContext& lp) = 0;
  // Called for each event, in (time, src_lp, src_seq) order per LP.
  [[nodiscard]] virtual absl::Status OnEvent(LpContext& lp, const Event& event) = 0;
  // Folds the LP's final state into the digest and summary.
  virtual void Fold(LpContext& lp, ResultFolder& out) = 0;

  // Checkpoints (docs/checkpoints.md). SaveState writes the LP's state at a
  // window barrier; RestoreState reads it back, in another process and
  // possibly on another node count, in place of Init. The kernel saves and
  // restores the LP's random stream, counters and pending events itself.
  // RestoreState runs once per LP in ascending LP order, starts from
  // zeroed state, must re-make the Subscribe() calls Init made, and must
  // not send or post. The defaults copy the state_bytes() block as it is;
  // a model overrides them to write a layout it controls. INVALID_ARGUMENT
  // or DATA_LOSS when the bytes do not hold a state this model wrote.
  virtual void SaveState(LpContext& lp, StateWriter& out);
  [[nodiscard]] virtual absl::Status RestoreState(LpContext& lp, StateReader& in);
};

struct ParamSpec {
  enum class Kind { kInteger, kReal };
  std::string name;
  Kind kind = Kind::kReal;
  double min = 0;
  double max = 0;
  double default_value = 0;
  std::string help;
};

// Parameter values after validation: every declared parameter is present.
using ParamValues = std::map<std::string, double, std::less<>>;

// What the kernel knows of the scenario when it creates a model.
struct ModelContext {
  uint64_t seed = 0;  // for structure drawn once per job (e.g. a contact network)
  double end_time = 0;
  double lookahead = 0;
  ParamValues params;
};

struct ModelInfo {
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  // Creates the model; INVALID_ARGUMENT for parameter combinations the
  // per-parameter ranges cannot express (e.g. mean < lookahead).
  std::function<absl::StatusOr<std::unique_ptr<Model>>(const ModelContext&)> create;
};

}  // namespace meshsim::sim
