#include "common/scenario/scenario.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

#include "common/sim/model_registry.h"
#include "common/strings/format.h"
#include "yaml-cpp/yaml.h"

namespace meshsim::scenario {
namespace {

constexpr std::string_view kKeys[] = {"name",         "model",     "seed",      "end_time", "lookahead",
                                      "nodes",        "partition", "transport", "params",   "checkpoint",
                                      "max_restarts", "sync",      "optimism"};

// Accumulates "source:line: field: problem" messages.
class Problems {
 public:
  explicit Problems(std::string_view source) : source_(source) {}
  void Add(const YAML::Node& at, std::string_view field, std::string_view problem) {
    std::string where = source_.empty() ? "" : std::string(source_);
    if (at.IsDefined() && at.Mark().line >= 0) StrAppend(&where, ":", at.Mark().line + 1);
    lines_.push_back(StrCat(where, where.empty() ? "" : ": ", field, ": ", problem));
  }
  bool empty() const { return lines_.empty(); }
  absl::Status ToStatus() const { return absl::InvalidArgumentError(StrJoin(lines_, "\n")); }

 private:
  std::string_view source_;
  std::vector<std::string> lines_;
};

std::string Scalar(const YAML::Node& node) { return node.IsScalar() ? node.Scalar() : "<not a scalar>"; }

bool ReadDouble(const YAML::Node& node, std::string_view field, Problems& problems, double* out) {
  double value;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value)) {
    problems.Add(node, field, StrCat("expected a number, got '", Scalar(node), "'"));
    return false;
  }
  *out = value;
  return true;
}

bool ReadUint(const YAML::Node& node, std::string_view field, Problems& problems, uint64_t* out) {
  uint64_t value;
  if (!node.IsScalar() || !YAML::convert<uint64_t>::decode(node, value) ||
      node.Scalar().find_first_of("-.eE") != std::string::npos) {
    problems.Add(node, field, StrCat("expected a non-negative integer, got '", Scalar(node), "'"));
    return false;
  }
  *out = value;
  return true;
}

bool ReadString(const YAML::Node& node, std::string_view field, Problems& problems, std::string* out) {
  if (!node.IsScalar()) {
    problems.Add(node, field, "expected a string");
    return false;
  }
  *out = node.Scalar();
  return true;
}

template <typename Enum>
bool ReadEnum(const YAML::Node& node, std::string_view field, Problems& problems,
              std::initializer_list<std::pair<std::string_view, Enum>> choices, Enum* out) {
  std::string text;
  if (!ReadString(node, field, problems, &text)) return false;
  std::vector<std::string_view> names;
  for (const auto& [name, value] : choices) {
    if (text == name) {
      *out = value;
      return true;
    }
    names.push_back(name);
  }
  problems.Add(node, field, StrCat("expected one of ", StrJoin(names, ", "), ", got '", text, "'"));
  return false;
}

// checkpoint: { every_seconds: 30 }, or checkpoint: off
void ParseCheckpoint(const YAML::Node& value, Problems& problems, v1::Scenario* scenario) {
  if (value.IsScalar() && (value.Scalar() == "off" || value.Scalar() == "false")) {
    scenario->set_checkpoint_every_seconds(0);
    return;
  }
  if (!value.IsMap()) {
    problems.Add(value, "checkpoint", "expected 'off' or a mapping such as { every_seconds: 30 }");
    return;
  }
  for (const auto& entry : value) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    if (key != "every_seconds") {
      problems.Add(entry.first, StrCat("checkpoint.", key), "unknown key (expected every_seconds)");
      continue;
    }
    double seconds;
    if (!ReadDouble(entry.second, "checkpoint.every_seconds", problems, &seconds)) continue;
    if (seconds < 0) {
      problems.Add(entry.second, "checkpoint.every_seconds", StrCat("must be >= 0 (0 = off), got ", seconds));
    } else {
      scenario->set_checkpoint_every_seconds(seconds);
    }
  }
}

// optimism: { time_window: 5, max_saved_events: 100000, check_every: 1000 }
void ParseOptimism(const YAML::Node& value, Problems& problems, v1::Scenario* scenario) {
  if (!value.IsMap()) {
    problems.Add(value, "optimism",
                 "expected a mapping such as { time_window: 5, max_saved_events: 100000 }");
    return;
  }
  v1::Optimism* optimism = scenario->mutable_optimism();
  for (const auto& entry : value) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    const std::string field = StrCat("optimism.", key);
    if (key == "time_window") {
      double window;
      if (ReadDouble(entry.second, field, problems, &window)) optimism->set_time_window(window);
    } else if (key == "max_saved_events") {
      uint64_t events;
      if (ReadUint(entry.second, field, problems, &events)) optimism->set_max_saved_events(events);
    } else if (key == "check_every") {
      uint64_t every;
      if (ReadUint(entry.second, field, problems, &every)) optimism->set_check_every(every);
    } else {
      problems.Add(entry.first, field, "unknown key (expected time_window, max_saved_events or check_every)");
    }
  }
}

// An integer in [min, max]; false (with the problem noted) otherwise.
bool ReadBoundedUint(const YAML::Node& value, std::string_view key, Problems& problems, uint64_t min,
                     uint64_t max, uint32_t* out) {
  uint64_t number;
  if (!ReadUint(value, key, problems, &number)) return false;
  if (number < min || number > max) {
    problems.Add(value, key,
                 min == 0 ? StrCat("must be at most ", max, ", got ", number)
                          : StrCat("must be between ", min, " and ", max, ", got ", number));
    return false;
  }
  *out = static_cast<uint32_t>(number);
  return true;
}

void ParseParams(const YAML::Node& value, Problems& problems, v1::Scenario* scenario) {
  if (!value.IsMap()) {
    problems.Add(value, "params", "expected a mapping of parameter names to numbers");
    return;
  }
  for (const auto& param : value) {
    const std::string name = param.first.Scalar();
    double number;
    if (ReadDouble(param.second, "params." + name, problems, &number))
      (*scenario->mutable_params())[name] = number;
  }
}

// The keys that choose how the job runs: nodes, partition, transport,
// restarts, checkpoints, synchronization.
bool ParseRunKey(const std::string& key, const YAML::Node& value, Problems& problems,
                 v1::Scenario* scenario) {
  uint32_t number;
  if (key == "nodes") {
    if (ReadBoundedUint(value, key, problems, 1, kMaxNodes, &number)) scenario->set_nodes(number);
  } else if (key == "max_restarts") {
    if (ReadBoundedUint(value, key, problems, 0, kMaxRestarts, &number)) scenario->set_max_restarts(number);
  } else if (key == "partition") {
    v1::Partition partition;
    if (ReadEnum<v1::Partition>(value, key, problems,
                                {{"block", v1::PARTITION_BLOCK}, {"round_robin", v1::PARTITION_ROUND_ROBIN}},
                                &partition)) {
      scenario->set_partition(partition);
    }
  } else if (key == "transport") {
    v1::Transport transport;
    if (ReadEnum<v1::Transport>(
            value, key, problems,
            {{"auto", v1::TRANSPORT_AUTO}, {"shm", v1::TRANSPORT_SHM}, {"tcp", v1::TRANSPORT_TCP}},
            &transport)) {
      scenario->set_transport(transport);
    }
  } else if (key == "checkpoint") {
    ParseCheckpoint(value, problems, scenario);
  } else if (key == "sync") {
    v1::Sync sync;
    if (ReadEnum<v1::Sync>(value, key, problems,
                           {{"conservative", v1::SYNC_CONSERVATIVE},
                            {"optimistic", v1::SYNC_OPTIMISTIC},
                            {"auto", v1::SYNC_AUTO}},
                           &sync)) {
      scenario->set_sync(sync);
    }
  } else if (key == "optimism") {
    ParseOptimism(value, problems, scenario);
  } else {
    return false;
  }
  return true;
}

void ParseTopLevel(const YAML::Node& root, Problems& problems, v1::Scenario* scenario) {
  for (const auto& entry : root) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    const YAML::Node& value = entry.second;
    if (key == "name") {
      ReadString(value, key, problems, scenario->mutable_name());
    } else if (key == "model") {
      ReadString(value, key, problems, scenario->mutable_model());
    } else if (key == "seed") {
      uint64_t seed;
      if (ReadUint(value, key, problems, &seed)) scenario->set_seed(seed);
    } else if (key == "end_time" || key == "lookahead") {
      double number;
      if (!ReadDouble(value, key, problems, &number)) continue;
      key == "end_time" ? scenario->set_end_time(number) : scenario->set_lookahead(number);
      if (number <= 0) problems.Add(value, key, StrCat("must be > 0, got ", number));
    } else if (key == "params") {
      ParseParams(value, problems, scenario);
    } else if (!ParseRunKey(key, value, problems, scenario)) {
      problems.Add(entry.first, key.empty() ? "<key>" : key,
                   StrCat("unknown key (expected one of ", StrJoin(kKeys, ", "), ")"));
    }
  }
}

}  // namespace

absl::StatusOr<v1::Scenario> ParseYaml(std::string_view text, std::string_view source) {
  if (text.size() > kMaxScenarioBytes) {
    return absl::InvalidArgumentError(StrCat(source, ": larger than ", kMaxScenarioBytes >> 10,
                                             " KiB, the limit of a scenario (is this a scenario file?)"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  Problems problems(source);
  if (!root.IsMap()) {
    problems.Add(root, "scenario", "expected a mapping of keys (name, model, ...)");
    return problems.ToStatus();
  }
  v1::Scenario scenario;
  ParseTopLevel(root, problems, &scenario);
  for (std::string_view required : {"model", "end_time", "lookahead"}) {
    if (!root[std::string(required)].IsDefined()) problems.Add(root, required, "is required");
  }
  if (!problems.empty()) return problems.ToStatus();
  if (absl::Status status = Normalize(&scenario); !status.ok()) {
    return absl::InvalidArgumentError(StrCat(source, ": ", status.message()));
  }
  return scenario;
}

absl::StatusOr<v1::Scenario> LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot read the scenario file"));
  // One byte past the limit is enough to know it is too large.
  std::string text(kMaxScenarioBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return absl::NotFoundError(StrCat(path, ": cannot read the scenario file"));
  text.resize(static_cast<size_t>(in.gcount()));
  return ParseYaml(text, path);
}

namespace {

using ProblemList = std::vector<std::string>;

void AddProblem(ProblemList& problems, std::string_view field, std::string_view text) {
  problems.push_back(StrCat(field, ": ", text));
}

// Defaults and checks for the fields every scenario has, whatever its model.
void NormalizeRunFields(v1::Scenario* s, ProblemList& problems) {
  if (s->name().empty()) s->set_name(s->model());
  if (s->name().size() > 128) AddProblem(problems, "name", "longer than 128 characters");
  if (!(s->end_time() > 0) || !std::isfinite(s->end_time())) {
    AddProblem(problems, "end_time", StrCat("must be a positive finite number, got ", s->end_time()));
  }
  if (!(s->lookahead() > 0) || !std::isfinite(s->lookahead())) {
    AddProblem(problems, "lookahead", StrCat("must be a positive finite number, got ", s->lookahead()));
  }
  if (s->nodes() == 0) s->set_nodes(1);
  if (s->nodes() > kMaxNodes) AddProblem(problems, "nodes", StrCat("must be at most ", kMaxNodes));
  if (s->partition() == v1::PARTITION_UNSPECIFIED) s->set_partition(v1::PARTITION_BLOCK);
  if (!v1::Partition_IsValid(s->partition())) AddProblem(problems, "partition", "unknown value");
  if (s->transport() == v1::TRANSPORT_UNSPECIFIED) s->set_transport(v1::TRANSPORT_AUTO);
  if (!v1::Transport_IsValid(s->transport())) AddProblem(problems, "transport", "unknown value");
  if (!s->has_checkpoint_every_seconds()) s->set_checkpoint_every_seconds(kDefaultCheckpointSeconds);
  if (!(s->checkpoint_every_seconds() >= 0) || !std::isfinite(s->checkpoint_every_seconds())) {
    AddProblem(problems, "checkpoint.every_seconds",
               StrCat("must be >= 0 (0 = off), got ", s->checkpoint_every_seconds()));
  }
  if (s->sync() == v1::SYNC_UNSPECIFIED) s->set_sync(v1::SYNC_CONSERVATIVE);
  if (!v1::Sync_IsValid(s->sync())) AddProblem(problems, "sync", "unknown value");
  if (const double window = s->optimism().time_window(); !(window >= 0) || !std::isfinite(window)) {
    AddProblem(problems, "optimism.time_window",
               StrCat("must be a finite number >= 0 (0 = no bound), got ", window));
  }
  if (!s->has_max_restarts()) s->set_max_restarts(kDefaultMaxRestarts);
  if (s->max_restarts() > kMaxRestarts) {
    AddProblem(problems, "max_restarts", StrCat("must be at most ", kMaxRestarts));
  }
}

// Every declared parameter present (its default when left out) and in its
// range; no parameter the model does not declare.
void NormalizeParams(const sim::ModelInfo& model, v1::Scenario* s, ProblemList& problems) {
  auto& params = *s->mutable_params();
  std::set<std::string, std::less<>> declared;
  for (const auto& spec : model.params) {
    declared.insert(spec.name);
    const std::string field = "params." + spec.name;
    auto it = params.find(spec.name);
    if (it == params.end()) {
      params[spec.name] = spec.default_value;
      continue;
    }
    const double value = it->second;
    if (spec.kind == sim::ParamSpec::Kind::kInteger && value != std::floor(value)) {
      AddProblem(problems, field, StrCat("expected an integer, got ", value));
    } else if (!(value >= spec.min && value <= spec.max)) {
      AddProblem(problems, field, StrCat("must be between ", spec.min, " and ", spec.max, ", got ", value));
    }
  }
  for (const auto& [name, value] : params) {
    if (!declared.contains(name)) {
      std::vector<std::string> names(declared.begin(), declared.end());
      AddProblem(problems, "params." + name,
                 StrCat("unknown parameter of model '", model.name, "' (expected one of ",
                        StrJoin(names, ", "), ")"));
    }
  }
}

// Combinations the ranges cannot express, and the LP count itself: the
// model is created once to ask.
std::unique_ptr<sim::Model> CheckModelAccepts(const sim::ModelInfo& model, const v1::Scenario& s,
                                              ProblemList& problems) {
  auto created = sim::CreateModel(model, ModelContextOf(s));
  if (!created.ok()) {
    problems.push_back(std::string(created.status().message()));
    return nullptr;
  }
  if ((*created)->lp_count() < s.nodes()) {
    AddProblem(problems, "nodes", StrCat(s.nodes(), " nodes for only ", (*created)->lp_count(), " LPs"));
  }
  return std::move(*created);
}

}  // namespace

absl::Status Normalize(v1::Scenario* s, std::unique_ptr<sim::Model>* created) {
  ProblemList problems;
  const sim::ModelInfo* model = sim::ModelRegistry::Global().Find(s->model());
  if (model == nullptr) {
    std::vector<std::string> known;
    for (const auto* info : sim::ModelRegistry::Global().List()) known.push_back(info->name);
    AddProblem(problems, "model",
               StrCat("unknown model '", s->model(), "' (known: ", StrJoin(known, ", "), ")"));
  }
  NormalizeRunFields(s, problems);
  if (model != nullptr) {
    NormalizeParams(*model, s, problems);
    if (problems.empty()) {
      std::unique_ptr<sim::Model> made = CheckModelAccepts(*model, *s, problems);
      if (created != nullptr) *created = std::move(made);
    }
  }
  if (!problems.empty()) return absl::InvalidArgumentError(StrJoin(problems, "\n"));
  return absl::OkStatus();
}

sim::ModelContext ModelContextOf(const v1::Scenario& scenario) {
  sim::ModelContext context;
  context.seed = scenario.seed();
  context.end_time = scenario.end_time();
  context.lookahead = scenario.lookahead();
  for (const auto& [name, value] : scenario.params()) context.params[name] = value;
  return context;
}

sim::PartitionKind PartitionKindOf(v1::Partition partition) {
  return partition == v1::PARTITION_ROUND_ROBIN ? sim::PartitionKind::kRoundRobin
                                                : sim::PartitionKind::kBlock;
}

std::string_view PartitionName(v1::Partition partition) {
  return partition == v1::PARTITION_ROUND_ROBIN ? "round_robin" : "block";
}

std::string_view SyncName(v1::Sync sync) {
  switch (sync) {
    case v1::SYNC_OPTIMISTIC:
      return "optimistic";
    case v1::SYNC_AUTO:
      return "auto";
    default:
      return "conservative";
  }
}

sim::OptimismBound OptimismBoundOf(const v1::Scenario& scenario) {
  sim::OptimismBound bound;
  if (scenario.optimism().time_window() > 0) bound.time_window = scenario.optimism().time_window();
  if (scenario.optimism().max_saved_events() > 0)
    bound.max_saved_events = scenario.optimism().max_saved_events();
  return bound;
}

std::string_view TransportName(v1::Transport transport) {
  switch (transport) {
    case v1::TRANSPORT_SHM:
      return "shm";
    case v1::TRANSPORT_TCP:
      return "tcp";
    default:
      return "auto";
  }
}

}  // namespace meshsim::scenario
