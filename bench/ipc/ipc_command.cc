// `meshsim bench ipc`: each inter-process mechanism measured between two
// processes, reported as a table, --json, --csv and --plot.
#include <fstream>
#include <map>

#include "bench/bench_command.h"
#include "bench/ipc/ipc_bench.h"
#include "cli/output.h"
#include "cli/plot.h"
#include "common/strings/format.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace meshsim::bench {
namespace {

using cli::FailWith;
using cli::GlobalOptions;
using cli::kExitOk;

struct BenchIpcOptions {
  std::string sizes = "64,1K,64K";
  double seconds = 0.2;
  int repetitions = 3;
  std::string json_target;  // --json FILE, '-' for stdout
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
};

std::string SizeName(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

// Which mechanism leads at each size, and by how much over the next.
std::vector<std::string> Leaders(const std::vector<IpcResult>& results, const std::vector<size_t>& sizes) {
  std::vector<std::string> lines;
  for (size_t size : sizes) {
    std::vector<const IpcResult*> at;
    for (const auto& r : results) {
      if (r.size == size) at.push_back(&r);
    }
    if (at.size() < 2) continue;
    auto by_latency = at;
    std::sort(by_latency.begin(), by_latency.end(), [](auto* a, auto* b) { return a->p50_us < b->p50_us; });
    auto by_rate = at;
    std::sort(by_rate.begin(), by_rate.end(),
              [](auto* a, auto* b) { return a->messages_per_second > b->messages_per_second; });
    lines.push_back(fmt::format(
        "{:>7}: lowest latency {} ({:.2f} us, {:.1f}x faster than {}); highest throughput {} ({:.0f} MB/s, "
        "{:.1f}x {})",
        SizeName(size), by_latency[0]->mechanism, by_latency[0]->p50_us,
        by_latency[1]->p50_us / by_latency[0]->p50_us, by_latency[1]->mechanism, by_rate[0]->mechanism,
        by_rate[0]->megabytes_per_second, by_rate[0]->messages_per_second / by_rate[1]->messages_per_second,
        by_rate[1]->mechanism));
  }
  return lines;
}

nlohmann::json ResultsDocument(const IpcBenchOptions& run, const std::vector<IpcResult>& results) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& r : results) {
    json.push_back({{"mechanism", r.mechanism},
                    {"size_bytes", r.size},
                    {"p50_us", r.p50_us},
                    {"p99_us", r.p99_us},
                    {"messages_per_second", r.messages_per_second},
                    {"megabytes_per_second", r.megabytes_per_second},
                    {"note", r.note}});
  }
  return {{"seconds", run.seconds}, {"repetitions", run.repetitions}, {"results", json}};
}

std::string ResultsCsv(const std::vector<IpcResult>& results) {
  std::string csv = "mechanism,size_bytes,p50_us,p99_us,messages_per_second,megabytes_per_second,note\n";
  for (const auto& r : results) {
    csv += fmt::format("{},{},{:.3f},{:.3f},{:.0f},{:.3f},{}\n", r.mechanism, r.size, r.p50_us, r.p99_us,
                       r.messages_per_second, r.megabytes_per_second, r.note);
  }
  return csv;
}

void PrintTable(const IpcBenchOptions& run, const std::vector<IpcResult>& results) {
  fmt::print("round trip p50/p99, one-way throughput; medians of {} repetitions of {:g} s each\n\n",
             run.repetitions, run.seconds);
  fmt::print("{:<20} {:>8} {:>10} {:>10} {:>12} {:>10}  {}\n", "mechanism", "size", "p50 us", "p99 us",
             "msg/s", "MB/s", "");
  for (const auto& r : results) {
    fmt::print("{:<20} {:>8} {:>10.2f} {:>10.2f} {:>12} {:>10.1f}  {}\n", r.mechanism, SizeName(r.size),
               r.p50_us, r.p99_us, cli::HumanCount(r.messages_per_second), r.megabytes_per_second, r.note);
  }
  fmt::print("\n");
  for (const auto& line : Leaders(results, run.sizes)) fmt::print("{}\n", line);
}

// Two bar charts, latency and throughput: a group per mechanism, a bar per size.
absl::Status PlotResults(const IpcBenchOptions& run, const std::vector<IpcResult>& results,
                         const std::string& path) {
  cli::Chart latency{
      .title = "Round-trip latency, p50 (lower is better)", .y_label = "microseconds", .log_y = true};
  cli::Chart throughput{.title = "One-way throughput (higher is better)", .y_label = "MB/s", .log_y = true};
  std::map<std::string, size_t> group_of;
  for (size_t size : run.sizes) {
    latency.series.push_back(SizeName(size));
    throughput.series.push_back(SizeName(size));
  }
  for (const auto& r : results) {
    if (!group_of.contains(r.mechanism)) {
      group_of[r.mechanism] = latency.groups.size();
      latency.groups.push_back(r.mechanism);
      throughput.groups.push_back(r.mechanism);
      latency.values.emplace_back(run.sizes.size(), 0);
      throughput.values.emplace_back(run.sizes.size(), 0);
    }
    const size_t g = group_of[r.mechanism];
    const size_t s = std::find(run.sizes.begin(), run.sizes.end(), r.size) - run.sizes.begin();
    latency.values[g][s] = r.p50_us;
    throughput.values[g][s] = r.megabytes_per_second;
  }
  return cli::PlotCharts({latency, throughput}, path);
}

int BenchIpc(const GlobalOptions& global, const BenchIpcOptions& options) {
  IpcBenchOptions run;
  auto sizes = ParseSizes(options.sizes);
  if (!sizes.ok()) return FailWith(sizes.status());
  run.sizes = *sizes;
  run.seconds = options.seconds;
  run.repetitions = options.repetitions;
  if (!options.plot_path.empty()) {
    // Fail on a bad --plot before spending the time measuring.
    if (auto status = cli::CheckPlotTarget(options.plot_path); !status.ok()) return FailWith(status);
  }
  auto results = RunIpcBench(run, [&](const std::string& name) {
    if (!global.json) fmt::print(stderr, "meshsim: measuring {}\n", name);
  });
  if (!results.ok()) return FailWith(results.status());

  const nlohmann::json document = ResultsDocument(run, *results);
  if (global.json) {
    fmt::print("{}\n", document.dump(2));
  } else {
    PrintTable(run, *results);
  }
  for (const auto& [path, text] :
       {std::pair{options.json_path, document.dump(2) + "\n"}, {options.csv_path, ResultsCsv(*results)}}) {
    if (auto status = cli::WriteTextFile(path, text); !status.ok()) return FailWith(status);
  }
  if (!options.plot_path.empty()) {
    if (auto status = PlotResults(run, *results, options.plot_path); !status.ok()) return FailWith(status);
    if (!global.json) fmt::print("plot written to {}\n", options.plot_path);
  }
  return kExitOk;
}

}  // namespace

cli::Command AddIpcCommand(CLI::App& parent, GlobalOptions&) {
  auto options = std::make_shared<BenchIpcOptions>();
  CLI::App* app = parent.add_subcommand(
      "ipc", "Latency and throughput of each inter-process mechanism between two processes");
  app->add_option("--sizes", options->sizes, "Message sizes, e.g. 64,1K,64K")->default_val("64,1K,64K");
  app->add_option("--seconds", options->seconds, "Seconds per measurement and repetition")->default_val(0.2);
  app->add_option("--repetitions", options->repetitions, "Repetitions; the report is their median")
      ->default_val(3);
  cli::AddJsonFileOption(*app, options->json_target,
                         "Write the results as JSON to this file ('-' for stdout)");
  app->add_option("--csv", options->csv_path, "Write the results as CSV to this file");
  app->add_option("--plot", options->plot_path, "Draw a bar chart to this .svg or .png file (gnuplot)");
  return {.app = app, .run = [options](const GlobalOptions& global) {
            return BenchIpc(cli::JsonTarget(global, options->json_target, options->json_path), *options);
          }};
}

}  // namespace meshsim::bench
