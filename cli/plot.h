// Charts drawn by gnuplot (Debian package gnuplot-nox), for --plot on the
// bench commands and on run/submit/status: the data and a script go to a
// temporary directory and gnuplot renders SVG or PNG, chosen by the output
// file's extension.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace meshsim::cli {

// kBars: clustered bars, one cluster per group on the x axis, one bar per
// series. kLines: one line per series over a numeric x axis, the groups
// being the x values.
struct Chart {
  enum class Style { kBars, kLines };
  std::string title;
  std::string y_label;
  bool log_y = false;
  std::vector<std::string> groups = {};
  std::vector<std::string> series = {};
  std::vector<std::vector<double>> values = {};  // [group][series]
  Style style = Style::kBars;
  std::string x_label = {};
};

// Checks that `out_path` can be drawn (extension, gnuplot installed)
// before the work whose result it will show.
[[nodiscard]] absl::Status CheckPlotTarget(const std::string& out_path);

// Draws the charts one above the other into `out_path` (.svg or .png).
// FAILED_PRECONDITION when gnuplot is not installed, INVALID_ARGUMENT for
// another extension.
[[nodiscard]] absl::Status PlotCharts(const std::vector<Chart>& charts, const std::string& out_path);

}  // namespace meshsim::cli
