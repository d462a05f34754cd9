#include "cli/output.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "cli/command.h"
#include "cli/plot.h"
#include "common/scenario/scenario.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "coordinator/coordinator.h"
#include "fmt/format.h"

namespace meshsim::cli {

int FailWith(const absl::Status& status) {
  fmt::print(stderr, "meshsim: {}\n", status.message());
  return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ? kExitBadInput : kExitFailed;
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  if (path.empty()) return absl::OkStatus();
  std::ofstream out(path);
  out << text;
  out.close();
  return out ? absl::OkStatus() : absl::UnavailableError(StrCat("cannot write ", path));
}

std::string HumanCount(double value) {
  if (value >= 1e9) return fmt::format("{:.2f} G", value / 1e9);
  if (value >= 1e6) return fmt::format("{:.2f} M", value / 1e6);
  if (value >= 1e3) return fmt::format("{:.1f} k", value / 1e3);
  return fmt::format("{:.0f}", value);
}

namespace {

// Committed over run: the share of optimistic work that was not undone.
double Efficiency(const v1::OptimisticStats& o) {
  return o.events_run() == 0
             ? 1.0
             : static_cast<double>(o.events_run() - o.rolled_back()) / static_cast<double>(o.events_run());
}

nlohmann::json OptimisticJson(const v1::OptimisticStats& o) {
  return {{"events_run", o.events_run()},
          {"rolled_back", o.rolled_back()},
          {"rollbacks", o.rollbacks()},
          {"anti_messages_sent", o.anti_messages_sent()},
          {"anti_messages_received", o.anti_messages_received()},
          {"gvt_rounds", o.gvt_rounds()},
          {"peak_saved_bytes", o.peak_saved_bytes()},
          {"efficiency", Efficiency(o)}};
}

nlohmann::json MemoryJson(const v1::MemoryStats& m) {
  return {{"peak_rss_bytes", m.peak_rss_bytes()},           {"kernel_bytes", m.kernel_bytes()},
          {"lp_state_bytes", m.lp_state_bytes()},           {"lp_record_bytes", m.lp_record_bytes()},
          {"pending_event_bytes", m.pending_event_bytes()}, {"saved_state_bytes", m.saved_state_bytes()}};
}

}  // namespace

nlohmann::json ScenarioJson(const v1::Scenario& s) {
  return {{"name", s.name()},
          {"model", s.model()},
          {"seed", s.seed()},
          {"end_time", s.end_time()},
          {"lookahead", s.lookahead()},
          {"nodes", s.nodes()},
          {"partition", scenario::PartitionName(s.partition())},
          {"transport", scenario::TransportName(s.transport())},
          {"sync", scenario::SyncName(s.sync())},
          {"optimism",
           {{"time_window", s.optimism().time_window()},
            {"max_saved_events", s.optimism().max_saved_events()},
            {"check_every", s.optimism().check_every()}}},
          {"params", nlohmann::json(std::map<std::string, double>(s.params().begin(), s.params().end()))},
          {"checkpoint_every_seconds", s.checkpoint_every_seconds()},
          {"max_restarts", s.max_restarts()}};
}

namespace {

// Restarts, the latest checkpoint and the state history, into `out`.
void AddRecoveryJson(const v1::JobInfo& job, nlohmann::json& out) {
  out["restarts"] = nlohmann::json::array();
  uint64_t replayed = 0;
  for (const auto& restart : job.restarts()) {
    replayed += restart.replayed_windows();
    out["restarts"].push_back({{"attempt", restart.attempt()},
                               {"reason", restart.reason()},
                               {"at_unix", restart.at_unix()},
                               {"from_window", restart.from_window()},
                               {"replayed_windows", restart.replayed_windows()},
                               {"nodes", restart.nodes()}});
  }
  out["replayed_windows"] = replayed;
  if (!job.checkpoints().empty()) {
    const auto& c = *job.checkpoints().rbegin();
    out["checkpoint"] = {{"window", c.window()}, {"attempt", c.attempt()},
                         {"parts", c.parts()},   {"virtual_time", c.virtual_time()},
                         {"bytes", c.bytes()},   {"at_unix", c.at_unix()}};
  }
  out["history"] = nlohmann::json::array();
  for (const auto& change : job.history()) {
    out["history"].push_back({{"state", coordinator::JobStateName(change.state())},
                              {"reason", change.reason()},
                              {"at_unix", change.at_unix()}});
  }
}

// Each node's counts and each directed link's traffic, into `out`.
void AddNodesAndLinksJson(const v1::JobResult& r, nlohmann::json& out) {
  out["nodes"] = nlohmann::json::array();
  out["links"] = nlohmann::json::array();
  for (const auto& node : r.nodes()) {
    out["nodes"].push_back({{"id", node.node_id()},
                            {"rank", node.rank()},
                            {"lps", node.lps()},
                            {"events", node.committed_events()},
                            {"pending_events", node.pending_events()},
                            {"loop_seconds", node.loop_seconds()},
                            {"frames_dropped", node.frames_dropped()},
                            {"mailboxes",
                             {{"posts", node.mailboxes().posts()},
                              {"deliveries", node.mailboxes().deliveries()},
                              {"remote_events", node.mailboxes().remote_events()}}}});
    if (node.has_optimistic()) out["nodes"].back()["optimistic"] = OptimisticJson(node.optimistic());
    if (node.has_memory()) out["nodes"].back()["memory"] = MemoryJson(node.memory());
    for (const auto& link : node.links()) {
      out["links"].push_back({{"from", link.from_node()},
                              {"to", link.to_node()},
                              {"transport", scenario::TransportName(link.transport())},
                              {"messages", link.messages()},
                              {"bytes", link.bytes()},
                              {"events", link.events()}});
    }
  }
}

// A completed job's result, into `out`.
void AddResultJson(const v1::JobResult& r, nlohmann::json& out) {
  out["committed_events"] = r.committed_events();
  out["pending_events"] = r.pending_events();
  out["end_time"] = r.end_time();
  out["windows"] = r.windows();
  out["wall_seconds"] = r.wall_seconds();
  out["event_rate"] = r.event_rate();
  out["digest"] = fmt::format("{:016x}", r.digest());
  AddNodesAndLinksJson(r, out);
  out["summary"] = std::map<std::string, int64_t>(r.summary().begin(), r.summary().end());
  out["mailboxes"] = {{"count", r.mailbox_count()},
                      {"posts", r.mailboxes().posts()},
                      {"deliveries", r.mailboxes().deliveries()},
                      {"remote_events", r.mailboxes().remote_events()}};
  if (r.has_optimistic()) out["optimistic"] = OptimisticJson(r.optimistic());
  if (r.has_memory()) out["memory"] = MemoryJson(r.memory());
  if (r.series_size() > 0) {
    nlohmann::json series = {{"interval", r.series_interval()}};
    std::vector<double> times;
    for (int k = 0; k < r.series(0).values_size(); ++k) times.push_back(k * r.series_interval());
    series["time"] = times;
    for (const auto& one : r.series()) {
      series[one.name()] = std::vector<int64_t>(one.values().begin(), one.values().end());
    }
    out["series"] = std::move(series);
  }
}

}  // namespace

nlohmann::json JobJson(const v1::JobInfo& job) {
  nlohmann::json out = {
      {"job_id", job.job_id()},
      {"state", coordinator::JobStateName(job.state())},
      {"reason", job.reason()},
      {"scenario", ScenarioJson(job.scenario())},
      {"virtual_time", job.state() == v1::COMPLETED ? job.scenario().end_time() : job.virtual_time()},
      {"attempt", std::max<uint32_t>(job.attempt(), 1)},
      {"assigned_nodes", std::vector<uint32_t>(job.assigned_nodes().begin(), job.assigned_nodes().end())},
      {"checkpoints_written", job.checkpoints_written()},
      {"sync", scenario::SyncName(job.sync() != v1::SYNC_UNSPECIFIED ? job.sync() : job.scenario().sync())},
  };
  AddRecoveryJson(job, out);
  if (job.state() == v1::COMPLETED) AddResultJson(job.result(), out);
  return out;
}

absl::Status PlotJob(const v1::JobInfo& job, const std::string& path) {
  const v1::JobResult& r = job.result();
  std::vector<Chart> charts;
  const std::string name = StrCat(job.scenario().name(), " (job ", job.job_id(), ")");
  if (r.series_size() > 0) {
    Chart series{.title = StrCat(name, ": ", job.scenario().model(), " series"),
                 .y_label = "count",
                 .style = Chart::Style::kLines,
                 .x_label = "virtual time"};
    for (const auto& one : r.series()) series.series.push_back(one.name());
    for (int k = 0; k < r.series(0).values_size(); ++k) {
      series.groups.push_back(fmt::format("{:g}", k * r.series_interval()));
      std::vector<double> row;
      for (const auto& one : r.series()) row.push_back(static_cast<double>(one.values(k)));
      series.values.push_back(std::move(row));
    }
    charts.push_back(std::move(series));
  }
  Chart nodes{
      .title = StrCat(name, ": events committed per node"), .y_label = "events", .series = {"events"}};
  for (const auto& node : r.nodes()) {
    nodes.groups.push_back(StrCat("node ", node.node_id(), " (rank ", node.rank(), ")"));
    nodes.values.push_back({static_cast<double>(node.committed_events())});
  }
  charts.push_back(std::move(nodes));
  Chart links{.title = StrCat(name, ": bytes per link"), .y_label = "bytes", .series = {"shm", "tcp"}};
  for (const auto& node : r.nodes()) {
    for (const auto& link : node.links()) {
      const bool shm = link.transport() == v1::TRANSPORT_SHM;
      links.groups.push_back(StrCat(link.from_node(), " -> ", link.to_node()));
      links.values.push_back(
          {shm ? static_cast<double>(link.bytes()) : 0, shm ? 0 : static_cast<double>(link.bytes())});
    }
  }
  if (!links.groups.empty()) charts.push_back(std::move(links));
  return Annotate(PlotCharts(charts, path), "--plot");
}

absl::Status WriteSeriesCsv(const v1::JobResult& result, const std::string& path) {
  if (result.series_size() == 0) return absl::FailedPreconditionError("the job has no time series");
  std::string csv = "time";
  for (const auto& series : result.series()) csv += "," + series.name();
  csv += "\n";
  const int points = result.series(0).values_size();
  for (int k = 0; k < points; ++k) {
    csv += fmt::format("{:g}", k * result.series_interval());
    for (const auto& series : result.series()) csv += fmt::format(",{}", series.values(k));
    csv += "\n";
  }
  return WriteTextFile(path, csv);
}

namespace {

// The series as a table of at most ~kRows rows, and where each series
// peaks when the peak lies inside the run (e.g. infectious persons).
void PrintSeries(std::FILE* out, const v1::JobResult& r) {
  constexpr int kRows = 20;
  const int points = r.series(0).values_size();
  const int step = std::max(1, (points + kRows - 1) / kRows);
  fmt::print(out, "\n  {:>10}", "time");
  for (const auto& series : r.series()) fmt::print(out, " {:>12}", series.name());
  fmt::print(out, "\n");
  for (int k = 0; k < points; k += step) {
    // Always end on the last point.
    const int at = k + step >= points ? points - 1 : k;
    fmt::print(out, "  {:>10.6g}", at * r.series_interval());
    for (const auto& series : r.series()) fmt::print(out, " {:>12}", series.values(at));
    fmt::print(out, "\n");
    if (at == points - 1) break;
  }
  for (const auto& series : r.series()) {
    const auto& values = series.values();
    const auto peak = std::max_element(values.begin(), values.end());
    const auto index = peak - values.begin();
    if (index > 0 && index < points - 1) {
      fmt::print(out, "  {} peaks at {} at time {:.6g}\n", series.name(), *peak, index * r.series_interval());
    }
  }
}

}  // namespace

nlohmann::json NodesJson(const v1::ListNodesReply& nodes) {
  auto out = nlohmann::json::array();
  for (const auto& node : nodes.nodes()) {
    out.push_back({{"id", node.node_id()},
                   {"name", node.name()},
                   {"state", coordinator::NodeStateName(node.state())},
                   {"job_id", node.job_id()},
                   {"rpc_endpoint", node.rpc_endpoint()},
                   {"data_endpoint", node.data_endpoint()},
                   {"pid", node.pid()},
                   {"last_heartbeat_age_seconds", node.last_heartbeat_age_seconds()},
                   {"frames_dropped", node.frames_dropped()},
                   {"rpc_malformed", node.rpc_malformed()},
                   {"memory_bytes", node.memory_bytes()},
                   {"memory_source", node.memory_source()}});
  }
  return out;
}

namespace {

// State, reason, restarts, and for an unfinished job its checkpoint and
// progress.
void PrintJobState(std::FILE* out, const v1::JobInfo& job) {
  const auto& s = job.scenario();
  // The protocol once an attempt has been assigned (auto resolved), else the scenario's.
  const v1::Sync sync = job.sync() != v1::SYNC_UNSPECIFIED ? job.sync() : s.sync();
  fmt::print(out, "job {}  {}  {} (model {}, seed {}, {} nodes, {} partition, {} sync)\n", job.job_id(),
             coordinator::JobStateName(job.state()), s.name(), s.model(), s.seed(), s.nodes(),
             scenario::PartitionName(s.partition()), scenario::SyncName(sync));
  if (!job.reason().empty()) fmt::print(out, "  reason: {}\n", job.reason());
  for (const auto& restart : job.restarts()) {
    fmt::print(out, "  restart: attempt {} on {} nodes from {}, {} windows replayed: {}\n", restart.attempt(),
               restart.nodes(),
               restart.from_window() > 0 ? fmt::format("the checkpoint at window {}", restart.from_window())
                                         : std::string("the start"),
               restart.replayed_windows(), restart.reason());
  }
  if (job.state() == v1::COMPLETED) return;
  if (!job.checkpoints().empty()) {
    const auto& c = *job.checkpoints().rbegin();
    fmt::print(out, "  checkpoint: window {} (t={:.6g}), {} parts, {}\n", c.window(), c.virtual_time(),
               c.parts(), HumanBytes(static_cast<double>(c.bytes())));
  }
  if (job.state() == v1::RUNNING) {
    fmt::print(out, "  progress: virtual time {:.6g} of {:.6g}, {} events committed\n", job.virtual_time(),
               s.end_time(), job.committed_events());
  }
}

void PrintResultTotals(std::FILE* out, const v1::JobResult& r) {
  uint64_t messages = 0, bytes = 0, remote_events = 0;
  for (const auto& node : r.nodes()) {
    for (const auto& link : node.links()) {
      messages += link.messages();
      bytes += link.bytes();
      remote_events += link.events();
    }
  }
  fmt::print(out, "  committed events   {}\n", r.committed_events());
  fmt::print(out, "  virtual end time   {:.6g}\n", r.end_time());
  if (!r.has_optimistic()) fmt::print(out, "  windows            {}\n", r.windows());
  fmt::print(out, "  wall time          {:.3f} s (window loop, slowest node)\n", r.wall_seconds());
  fmt::print(out, "  event rate         {}events/s\n", HumanCount(r.event_rate()));
  fmt::print(out, "  between nodes      {} messages, {}, {} events\n", messages,
             HumanBytes(static_cast<double>(bytes)), remote_events);
  if (r.mailbox_count() > 0) {
    fmt::print(out, "  mailboxes          {}: {} posts, {} deliveries, {} sent to other nodes\n",
               r.mailbox_count(), r.mailboxes().posts(), r.mailboxes().deliveries(),
               r.mailboxes().remote_events());
  }
  if (r.has_optimistic()) {
    const v1::OptimisticStats& o = r.optimistic();
    fmt::print(out,
               "  optimistic         {} GVT rounds, {} events run, {} rolled back in {} rollbacks "
               "(efficiency {:.1f}%), {} anti-messages, up to {} saved per node\n",
               o.gvt_rounds(), o.events_run(), o.rolled_back(), o.rollbacks(), 100 * Efficiency(o),
               o.anti_messages_sent(), HumanBytes(static_cast<double>(o.peak_saved_bytes())));
  }
  if (r.has_memory()) {
    const v1::MemoryStats& m = r.memory();
    auto bytes = [](uint64_t n) { return HumanBytes(static_cast<double>(n)); };
    fmt::print(
        out,
        "  memory             {} peak resident over {} node(s); kernel {}: LP states {}, LP records {}, "
        "pending events {}, saved states {}\n",
        bytes(m.peak_rss_bytes()), r.nodes_size(), bytes(m.kernel_bytes()), bytes(m.lp_state_bytes()),
        bytes(m.lp_record_bytes()), bytes(m.pending_event_bytes()), bytes(m.saved_state_bytes()));
  }
  fmt::print(out, "  pending at end     {} events\n", r.pending_events());
  fmt::print(out, "  digest             {:016x}\n", r.digest());
}

void PrintNodesAndLinks(std::FILE* out, const v1::JobResult& r) {
  fmt::print(out, "\n  {:>5} {:>5} {:>10} {:>14} {:>12} {:>12}\n", "node", "rank", "lps", "events", "loop s",
             "peak RSS");
  for (const auto& node : r.nodes()) {
    fmt::print(out, "  {:>5} {:>5} {:>10} {:>14} {:>12.3f} {:>12}\n", node.node_id(), node.rank(), node.lps(),
               node.committed_events(), node.loop_seconds(),
               HumanBytes(static_cast<double>(node.memory().peak_rss_bytes())));
  }
  bool header = false;
  for (const auto& node : r.nodes()) {
    for (const auto& link : node.links()) {
      if (!header) {
        fmt::print(out, "\n  {:>5} {:>5} {:>9} {:>10} {:>12} {:>12}\n", "from", "to", "transport", "messages",
                   "bytes", "events");
        header = true;
      }
      fmt::print(out, "  {:>5} {:>5} {:>9} {:>10} {:>12} {:>12}\n", link.from_node(), link.to_node(),
                 scenario::TransportName(link.transport()), link.messages(), link.bytes(), link.events());
    }
  }
}

}  // namespace

void PrintJob(std::FILE* out, const v1::JobInfo& job) {
  PrintJobState(out, job);
  if (job.state() != v1::COMPLETED) return;
  const auto& r = job.result();
  PrintResultTotals(out, r);
  PrintNodesAndLinks(out, r);
  if (!r.summary().empty()) {
    fmt::print(out, "\n  model summary\n");
    std::map<std::string, int64_t> sorted(r.summary().begin(), r.summary().end());
    for (const auto& [field, value] : sorted) fmt::print(out, "  {:<18} {}\n", field, value);
  }
  if (r.series_size() > 0 && r.series(0).values_size() > 0) PrintSeries(out, r);
}

void ShowJob(bool json, const v1::JobInfo& job) {
  if (json) {
    fmt::print("{}\n", JobJson(job).dump(2));
  } else {
    PrintJob(stdout, job);
  }
  std::fflush(stdout);
}

void PrintNodes(std::FILE* out, const v1::ListNodesReply& nodes) {
  fmt::print(out, "{:>4}  {:<16} {:<6} {:>6} {:>8}  {:<26} {:<26} {:>8} {:>11}\n", "id", "name", "state",
             "job", "hb age", "rpc", "data", "dropped", "memory");
  for (const auto& node : nodes.nodes()) {
    fmt::print(out, "{:>4}  {:<16} {:<6} {:>6} {:>7.1f}s  {:<26} {:<26} {:>8} {:>11}\n", node.node_id(),
               node.name(), coordinator::NodeStateName(node.state()), node.job_id(),
               node.last_heartbeat_age_seconds(), node.rpc_endpoint(), node.data_endpoint(),
               node.frames_dropped() + node.rpc_malformed(),
               node.memory_bytes() > 0 ? HumanBytes(static_cast<double>(node.memory_bytes())) : "-");
  }
}

ProgressBar::ProgressBar() : enabled_(isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() { Clear(); }

void ProgressBar::Update(const v1::JobInfo& job) {
  if (!enabled_) return;
  constexpr int kWidth = 30;
  const double end = job.scenario().end_time();
  const double fraction = end > 0 ? std::clamp(job.virtual_time() / end, 0.0, 1.0) : 0;
  const int filled = static_cast<int>(fraction * kWidth);
  fmt::print(stderr, "\r  [{}{}] {:3.0f}%  t={:.4g}/{:.4g}  {} events  {:<9}", std::string(filled, '#'),
             std::string(kWidth - filled, '.'), fraction * 100, job.virtual_time(), end,
             HumanCount(static_cast<double>(job.committed_events())), coordinator::JobStateName(job.state()));
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::Clear() {
  if (!drawn_) return;
  fmt::print(stderr, "\r{}\r", std::string(100, ' '));
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace meshsim::cli
