// `meshsim bench sweep FILE`: one scenario over a grid of node counts x
// transports x values of one parameter, on a local cluster started once for
// the largest node count. Each point reports the event rate (median over
// repetitions), the speedup over one node with the same parameter value,
// and the parallel efficiency (speedup / nodes).
#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <optional>

#include "bench/bench_command.h"
#include "cli/job_client.h"
#include "cli/local_cluster.h"
#include "cli/output.h"
#include "cli/plot.h"
#include "common/scenario/scenario.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "zmq.hpp"

namespace meshsim::bench {
namespace {

using cli::FailWith;
using cli::GlobalOptions;
using cli::kExitFailed;
using cli::kExitOk;

struct BenchSweepOptions {
  std::string scenario_path;
  std::string nodes = "1,2,4";
  std::string transports = "shm,tcp";
  std::string param;  // NAME=V1,V2,...
  int repetitions = 1;
  std::string json_target;  // --json FILE, '-' for stdout
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
};

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

struct Grid {
  std::vector<uint32_t> nodes;
  std::vector<v1::Transport> transports;
  std::string param;                   // empty: no parameter axis
  std::vector<double> values = {0.0};  // one dummy value without a parameter axis
};

absl::StatusOr<Grid> ParseGrid(const BenchSweepOptions& options) {
  Grid grid;
  for (const std::string& item : SplitList(options.nodes)) {
    const int n = std::atoi(item.c_str());
    if (n < 1 || n > static_cast<int>(scenario::kMaxNodes) || std::to_string(n) != item) {
      return absl::InvalidArgumentError(StrCat("--nodes: '", item, "' is not a node count"));
    }
    grid.nodes.push_back(static_cast<uint32_t>(n));
  }
  if (grid.nodes.empty()) return absl::InvalidArgumentError("--nodes: no node counts");
  std::sort(grid.nodes.begin(), grid.nodes.end());
  grid.nodes.erase(std::unique(grid.nodes.begin(), grid.nodes.end()), grid.nodes.end());
  for (const std::string& item : SplitList(options.transports)) {
    if (item == "shm") {
      grid.transports.push_back(v1::TRANSPORT_SHM);
    } else if (item == "tcp") {
      grid.transports.push_back(v1::TRANSPORT_TCP);
    } else {
      return absl::InvalidArgumentError(StrCat("--transports: '", item, "' (expected shm or tcp)"));
    }
  }
  if (grid.transports.empty()) return absl::InvalidArgumentError("--transports: none given");
  if (!options.param.empty()) {
    const size_t equals = options.param.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError("--param: expected NAME=V1,V2,... e.g. remote_fraction=0.1,0.5");
    }
    grid.param = options.param.substr(0, equals);
    grid.values.clear();
    for (const std::string& item : SplitList(options.param.substr(equals + 1))) {
      char* end = nullptr;
      const double value = std::strtod(item.c_str(), &end);
      if (end == item.c_str() || *end != '\0') {
        return absl::InvalidArgumentError(StrCat("--param: '", item, "' is not a number"));
      }
      grid.values.push_back(value);
    }
    if (grid.values.empty()) return absl::InvalidArgumentError("--param: no values");
  }
  return grid;
}

struct Point {
  double value = 0;
  v1::Transport transport = v1::TRANSPORT_AUTO;
  uint32_t nodes = 1;
  v1::Scenario scenario;
  double event_rate = 0;  // median over repetitions
  double wall_seconds = 0;
  uint64_t committed_events = 0;
  uint64_t windows = 0;
  std::string digest = {};
  double speedup = 0;
  double efficiency = 0;
};

std::string TransportLabel(const Point& point) {
  return point.nodes == 1 ? "-" : std::string(scenario::TransportName(point.transport));
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Every point's scenario, checked before anything runs. One node has no
// links, so it is run once per value and is the baseline of every
// transport.
absl::StatusOr<std::vector<Point>> GridPoints(const v1::Scenario& base, const Grid& grid,
                                              const std::string& scenario_path) {
  std::vector<Point> points;
  for (double value : grid.values) {
    for (uint32_t nodes : grid.nodes) {
      for (v1::Transport transport : grid.transports) {
        if (nodes == 1 && transport != grid.transports.front()) continue;
        Point point{.value = value, .transport = transport, .nodes = nodes, .scenario = base};
        point.scenario.set_nodes(nodes);
        point.scenario.set_transport(transport);
        if (!grid.param.empty()) (*point.scenario.mutable_params())[grid.param] = value;
        if (auto status = scenario::Normalize(&point.scenario); !status.ok()) {
          return Annotate(status, StrCat(scenario_path, " with nodes=", nodes,
                                         grid.param.empty() ? "" : StrCat(" ", grid.param, "=", value)));
        }
        points.push_back(std::move(point));
      }
    }
  }
  return points;
}

// Runs `point` `repetitions` times on the cluster behind `client` and keeps
// the medians.
absl::Status Measure(rpc::RpcClient& client, int repetitions, Point& point) {
  static const std::atomic<bool> kNeverInterrupted{false};
  std::vector<double> rates, walls;
  for (int rep = 0; rep < repetitions; ++rep) {
    v1::SubmitJobRequest submit;
    *submit.mutable_scenario() = point.scenario;
    v1::SubmitJobReply submitted;
    MESHSIM_RETURN_IF_ERROR(client.Call("Coordinator.SubmitJob", submit, &submitted));
    MESHSIM_ASSIGN_OR_RETURN(v1::JobInfo job, cli::FollowJob(client, submitted.job_id(), &kNeverInterrupted));
    if (job.state() != v1::COMPLETED) {
      return absl::AbortedError(
          StrCat("job ", job.job_id(), " ", v1::JobState_Name(job.state()), ": ", job.reason()));
    }
    rates.push_back(job.result().event_rate());
    walls.push_back(job.result().wall_seconds());
    point.committed_events = job.result().committed_events();
    point.windows = job.result().windows();
    point.digest = fmt::format("{:016x}", job.result().digest());
  }
  point.event_rate = Median(rates);
  point.wall_seconds = Median(walls);
  return absl::OkStatus();
}

// Runs every point on one local cluster as large as the largest, then
// fills in each point's speedup over one node.
absl::Status MeasureAll(const GlobalOptions& global, const Grid& grid, int repetitions,
                        std::vector<Point>& points) {
  MESHSIM_ASSIGN_OR_RETURN(
      auto cluster,
      cli::LocalCluster::Start({.executable = cli::SelfExecutable(),
                                .nodes = grid.nodes.back(),
                                .log_level = global.log.level,
                                .log_format = global.log.format == log::Format::kJson ? "json" : "text"}));
  zmq::context_t context;
  MESHSIM_ASSIGN_OR_RETURN(auto client,
                           rpc::RpcClient::Create(context, {.endpoint = cluster->coordinator_endpoint()}));
  for (Point& point : points) {
    if (!global.json) {
      fmt::print(stderr, "meshsim: {} nodes, {}{}\n", point.nodes, TransportLabel(point),
                 grid.param.empty() ? "" : fmt::format(", {}={:g}", grid.param, point.value));
    }
    MESHSIM_RETURN_IF_ERROR(Measure(*client, repetitions, point));
  }
  cluster->Stop();
  for (Point& point : points) {
    for (const Point& one : points) {
      if (one.nodes == 1 && one.value == point.value && one.event_rate > 0) {
        point.speedup = point.event_rate / one.event_rate;
        point.efficiency = point.speedup / point.nodes;
      }
    }
  }
  return absl::OkStatus();
}

// The points as the --json document and as CSV.
std::pair<nlohmann::json, std::string> SweepDocuments(const v1::Scenario& base, const Grid& grid,
                                                      int repetitions, const std::vector<Point>& points) {
  nlohmann::json rows = nlohmann::json::array();
  std::string csv =
      StrCat(grid.param.empty() ? "" : grid.param + ",",
             "transport,nodes,event_rate,speedup,efficiency,wall_seconds,committed_events,digest\n");
  for (const Point& p : points) {
    nlohmann::json row = {{"transport", TransportLabel(p)},
                          {"nodes", p.nodes},
                          {"event_rate", p.event_rate},
                          {"speedup", p.speedup},
                          {"efficiency", p.efficiency},
                          {"wall_seconds", p.wall_seconds},
                          {"committed_events", p.committed_events},
                          {"windows", p.windows},
                          {"digest", p.digest}};
    if (!grid.param.empty()) row[grid.param] = p.value;
    rows.push_back(row);
    csv += StrCat(
        grid.param.empty() ? "" : fmt::format("{:g},", p.value),
        fmt::format("{},{},{:.0f},{:.3f},{:.3f},{:.4f},{},{}\n", TransportLabel(p), p.nodes, p.event_rate,
                    p.speedup, p.efficiency, p.wall_seconds, p.committed_events, p.digest));
  }
  nlohmann::json document = {{"scenario", base.name()},
                             {"model", base.model()},
                             {"repetitions", repetitions},
                             {"parameter", grid.param},
                             {"points", rows}};
  return {std::move(document), std::move(csv)};
}

void PrintSweep(const v1::Scenario& base, const Grid& grid, int repetitions,
                const std::vector<Point>& points) {
  fmt::print("{} (model {}), medians of {} run(s) per point\n\n", base.name(), base.model(), repetitions);
  if (!grid.param.empty()) fmt::print("{:>16} ", grid.param);
  fmt::print("{:>9} {:>6} {:>14} {:>8} {:>10} {:>9}\n", "transport", "nodes", "events/s", "speedup",
             "efficiency", "wall s");
  for (const Point& p : points) {
    if (!grid.param.empty()) fmt::print("{:>16g} ", p.value);
    fmt::print("{:>9} {:>6} {:>14} {:>7.2f}x {:>9.0f}% {:>9.3f}\n", TransportLabel(p), p.nodes,
               cli::HumanCount(p.event_rate), p.speedup, 100 * p.efficiency, p.wall_seconds);
  }
}

// One cluster of bars per (value, transport), one bar per node count.
absl::Status PlotSweep(const v1::Scenario& base, const Grid& grid, const std::vector<Point>& points,
                       const std::string& path) {
  cli::Chart rate{.title = StrCat(base.name(), ": event rate (higher is better)"), .y_label = "events/s"};
  cli::Chart efficiency{.title = "Parallel efficiency: speedup / nodes", .y_label = "percent"};
  for (uint32_t nodes : grid.nodes) {
    rate.series.push_back(StrCat(nodes, nodes == 1 ? " node" : " nodes"));
    efficiency.series.push_back(rate.series.back());
  }
  for (double value : grid.values) {
    for (v1::Transport transport : grid.transports) {
      std::string label(scenario::TransportName(transport));
      if (!grid.param.empty()) label = fmt::format("{} {}={:g}", label, grid.param, value);
      std::vector<double> rates, efficiencies;
      for (uint32_t nodes : grid.nodes) {
        const Point* found = nullptr;
        for (const Point& p : points) {
          if (p.value == value && p.nodes == nodes && (nodes == 1 || p.transport == transport)) found = &p;
        }
        rates.push_back(found != nullptr ? found->event_rate : 0);
        efficiencies.push_back(found != nullptr ? 100 * found->efficiency : 0);
      }
      rate.groups.push_back(label);
      rate.values.push_back(rates);
      efficiency.groups.push_back(label);
      efficiency.values.push_back(efficiencies);
    }
  }
  return cli::PlotCharts({rate, efficiency}, path);
}

int BenchSweep(const GlobalOptions& global, const BenchSweepOptions& options) {
  auto base = cli::LoadScenario(options.scenario_path, {});
  if (!base.ok()) return FailWith(base.status());
  auto grid = ParseGrid(options);
  if (!grid.ok()) return FailWith(grid.status());
  if (options.repetitions < 1 || options.repetitions > 100) {
    return FailWith(absl::InvalidArgumentError("--repetitions: must be between 1 and 100"));
  }
  if (!options.plot_path.empty()) {
    if (auto status = cli::CheckPlotTarget(options.plot_path); !status.ok()) return FailWith(status);
  }
  auto points = GridPoints(*base, *grid, options.scenario_path);
  if (!points.ok()) return FailWith(points.status());
  if (auto status = MeasureAll(global, *grid, options.repetitions, *points); !status.ok()) {
    fmt::print(stderr, "meshsim: {}\n", status.message());
    return kExitFailed;
  }
  const auto [document, csv] = SweepDocuments(*base, *grid, options.repetitions, *points);
  if (global.json) {
    fmt::print("{}\n", document.dump(2));
  } else {
    PrintSweep(*base, *grid, options.repetitions, *points);
  }
  for (const auto& [path, text] :
       {std::pair{options.json_path, document.dump(2) + "\n"}, {options.csv_path, csv}}) {
    if (auto status = cli::WriteTextFile(path, text); !status.ok()) return FailWith(status);
  }
  if (!options.plot_path.empty()) {
    if (auto status = PlotSweep(*base, *grid, *points, options.plot_path); !status.ok())
      return FailWith(status);
    if (!global.json) fmt::print("plot written to {}\n", options.plot_path);
  }
  return kExitOk;
}

}  // namespace

cli::Command AddSweepCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<BenchSweepOptions>();
  CLI::App* app = parent.add_subcommand(
      "sweep", "Run a scenario over node counts x transports x parameter values on a local cluster");
  app->add_option("scenario", options->scenario_path, "Scenario file (YAML)")->required();
  app->add_option("--nodes", options->nodes, "Node counts, e.g. 1,2,4")->default_val("1,2,4");
  app->add_option("--transports", options->transports, "Transports: shm, tcp or both")
      ->default_val("shm,tcp");
  app->add_option("--param", options->param, "One model parameter's values, e.g. remote_fraction=0.1,0.5");
  app->add_option("--repetitions", options->repetitions, "Runs per point; the report is their median")
      ->default_val(1);
  cli::AddJsonFileOption(*app, options->json_target,
                         "Write the results as JSON to this file ('-' for stdout)");
  app->add_option("--csv", options->csv_path, "Write the results as CSV to this file");
  app->add_option("--plot", options->plot_path, "Draw bar charts to this .svg or .png file (gnuplot)");
  return {.app = app, .run = [options](const GlobalOptions& global) {
            return BenchSweep(cli::JsonTarget(global, options->json_target, options->json_path), *options);
          }};
}

}  // namespace meshsim::bench
