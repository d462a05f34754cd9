#include "cli/plot.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/process/child_process.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "fmt/format.h"

namespace meshsim::cli {
namespace {

std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t colon = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, colon - start) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = colon + 1;
  }
  return "";
}

// A string as a gnuplot single-quoted literal.
std::string Quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace

absl::Status CheckPlotTarget(const std::string& out_path) {
  const std::string extension = std::filesystem::path(out_path).extension().string();
  if (extension != ".svg" && extension != ".png") {
    return absl::InvalidArgumentError(StrCat("--plot: ", out_path, ": the file must end in .svg or .png"));
  }
  if (FindOnPath("gnuplot").empty()) {
    return absl::FailedPreconditionError("--plot needs gnuplot (Debian: apt-get install gnuplot-nox)");
  }
  return absl::OkStatus();
}

namespace {

// The chart's table as gnuplot reads it: a header of series names, then a
// row per group.
void WriteChartData(const Chart& chart, const std::filesystem::path& path) {
  const bool lines = chart.style == Chart::Style::kLines;
  std::ofstream out(path);
  out << "group";
  for (const auto& series : chart.series) out << " \"" << series << "\"";
  out << "\n";
  for (size_t g = 0; g < chart.groups.size(); ++g) {
    out << (lines ? chart.groups[g] : "\"" + chart.groups[g] + "\"");
    for (double value : chart.values[g]) out << " " << fmt::format("{:.6g}", value);
    out << "\n";
  }
}

// The gnuplot commands that draw one chart of the multiplot from `data`.
std::string ChartScript(const Chart& chart, const std::filesystem::path& data) {
  std::string script = "set title " + Quoted(chart.title) + "\nset ylabel " + Quoted(chart.y_label) + "\n";
  script += "set xlabel " + Quoted(chart.x_label) + "\n";
  script += chart.log_y ? "set logscale y\n" : "unset logscale y\nset yrange [0:*]\n";
  if (chart.style == Chart::Style::kLines) {
    script += "set style data lines\nset xtics norotate mirror\nset xrange [*:*]\n";
    script += "plot " + Quoted(data.string()) + " using 1:2 lw 2 title columnheader(2)";
    for (size_t s = 1; s < chart.series.size(); ++s) {
      script += fmt::format(", '' using 1:{} lw 2 title columnheader({})", s + 2, s + 2);
    }
  } else {
    script +=
        "set style data histograms\nset style histogram clustered gap 1\n"
        "set style fill solid 0.85 border -1\nset xtics rotate by -20 nomirror\n";
    script += "plot " + Quoted(data.string()) + " using 2:xtic(1) title columnheader(2)";
    for (size_t s = 1; s < chart.series.size(); ++s) {
      script += fmt::format(", '' using {} title columnheader({})", s + 2, s + 2);
    }
  }
  return script + "\n";
}

// Writes each chart's data into `dir` and returns the whole script.
std::string PlotScript(const std::vector<Chart>& charts, const std::string& out_path,
                       const std::filesystem::path& dir) {
  const std::string extension = std::filesystem::path(out_path).extension().string();
  const int height = 380 * static_cast<int>(charts.size());
  std::string script =
      extension == ".svg"
          ? fmt::format("set terminal svg size 1100,{} dynamic font 'sans,11' background rgb 'white'\n",
                        height)
          : fmt::format("set terminal pngcairo size 1100,{} font 'sans,10' background rgb 'white'\n", height);
  script += "set output " + Quoted(std::filesystem::absolute(out_path).string()) + "\n";
  script += fmt::format("set multiplot layout {},1\n", charts.size());
  script += "set key outside right top\nset grid ytics\nset bmargin 5\n";
  for (size_t c = 0; c < charts.size(); ++c) {
    const auto data = dir / fmt::format("chart{}.dat", c);
    WriteChartData(charts[c], data);
    script += ChartScript(charts[c], data);
  }
  return script + "unset multiplot\n";
}

absl::Status RunGnuplot(const std::filesystem::path& script_path, const std::string& out_path) {
  auto child = process::ChildProcess::Spawn(
      {.name = "gnuplot", .argv = {FindOnPath("gnuplot"), script_path.string()}});
  if (!child.ok()) return child.status();
  const std::optional<int> wait_status = (*child)->Wait(Deadline::After(std::chrono::seconds(60)));
  if (wait_status && *wait_status == 0) return absl::OkStatus();
  std::string tail;
  for (const auto& line : (*child)->Tail()) tail += "\n  " + line;
  return absl::InternalError(StrCat("gnuplot failed drawing ", out_path, ":", tail));
}

}  // namespace

absl::Status PlotCharts(const std::vector<Chart>& charts, const std::string& out_path) {
  MESHSIM_RETURN_IF_ERROR(CheckPlotTarget(out_path));
  std::error_code error;
  const auto dir = std::filesystem::temp_directory_path() / StrCat("meshsim-plot-", getpid());
  std::filesystem::create_directories(dir, error);
  if (error) return absl::UnavailableError(StrCat("cannot create ", dir.string()));
  const auto script_path = dir / "plot.gp";
  std::ofstream(script_path) << PlotScript(charts, out_path, dir);
  absl::Status status = RunGnuplot(script_path, out_path);
  std::filesystem::remove_all(dir, error);
  return status;
}

}  // namespace meshsim::cli
