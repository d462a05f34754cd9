// Metrics end to end: `meshsim run --metrics` on a real local cluster,
// `promtool check metrics` on every process's /metrics, and a real
// Prometheus server scraping the cluster while a job runs. Every PromQL
// expression of every shipped dashboard must return a series, and the
// scraped event counters must add up to the job's committed events.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <set>

#include "common/process/child_process.h"
#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Runs `sh -c command` and returns its exit code and output.
std::pair<int, std::string> Shell(const std::string& command) {
  auto child = process::ChildProcess::Spawn({.name = "sh", .argv = {"/bin/sh", "-c", command}});
  if (!child.ok()) return {-1, std::string(child.status().message())};
  const auto status = (*child)->Wait(Deadline::After(60s));
  (*child)->WaitForOutputEnd(Deadline::After(5s));
  std::string output;
  for (const auto& line : (*child)->Tail()) output += line + "\n";
  return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, output};
}

// The program's full path, or "" when it is not installed.
std::string Which(const std::string& program) {
  const auto [code, output] = Shell("command -v " + program);
  return code == 0 ? output.substr(0, output.find('\n')) : "";
}

std::vector<std::string> DashboardFiles() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(SourcePath("deploy/grafana/dashboards"))) {
    if (entry.path().extension() == ".json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool IsRow(const nlohmann::json& panel) { return panel.value("type", "") == "row"; }

// The panels under the row titled `row` (up to the next row) of a shipped
// dashboard.
std::vector<nlohmann::json> PanelsUnderRow(const std::string& row) {
  std::vector<nlohmann::json> panels;
  for (const auto& file : DashboardFiles()) {
    bool under = false;
    const nlohmann::json dashboard = ReadJson(file);
    for (const auto& panel : dashboard["panels"]) {
      if (IsRow(panel)) {
        under = panel["title"] == row;
      } else if (under) {
        panels.push_back(panel);
      }
    }
  }
  return panels;
}

// The shipped dashboards are valid Grafana dashboard JSON: a schema version,
// unique panel ids, the provisioned datasource by uid, and a title, unit and
// description on every panel.
TEST(DashboardTest, EveryDashboardIsWellFormedAndUsesTheProvisionedDatasource) {
  const std::string datasources =
      ReadText(SourcePath("deploy/grafana/provisioning/datasources/prometheus.yml"));
  std::smatch uid;
  ASSERT_TRUE(std::regex_search(datasources, uid, std::regex(R"(uid:\s*(\S+))")));
  const auto files = DashboardFiles();
  ASSERT_GE(files.size(), 2u);
  std::set<std::string> titles, uids;
  for (const auto& file : files) {
    const nlohmann::json dashboard = ReadJson(file);
    EXPECT_TRUE(dashboard["schemaVersion"].is_number_integer()) << file;
    EXPECT_TRUE(uids.insert(dashboard["uid"].get<std::string>()).second) << file;
    titles.insert(dashboard["title"]);
    std::set<int> ids;
    ASSERT_FALSE(dashboard["panels"].empty()) << file;
    for (const auto& panel : dashboard["panels"]) {
      const std::string title = panel.value("title", "");
      EXPECT_FALSE(title.empty()) << file;
      EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second)
          << file << ": duplicate panel id " << panel["id"];
      if (IsRow(panel)) continue;  // a heading: no queries of its own
      EXPECT_FALSE(panel.value("description", "").empty()) << title;
      EXPECT_FALSE(panel["fieldConfig"]["defaults"].value("unit", "").empty()) << title;
      EXPECT_EQ(panel["datasource"]["uid"], uid[1].str()) << title;
      ASSERT_FALSE(panel["targets"].empty()) << title;
      for (const auto& target : panel["targets"]) {
        EXPECT_EQ(target["datasource"]["uid"], uid[1].str()) << title;
        EXPECT_FALSE(target.value("expr", "").empty()) << title;
      }
    }
  }
  EXPECT_TRUE(titles.contains("meshsim / Cluster"));
  EXPECT_TRUE(titles.contains("meshsim / Simulation"));
}

class MetricsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (run_) {
      run_->Signal(SIGINT);
      run_->Wait(Deadline::After(15s));
    }
    if (prometheus_) prometheus_->Stop(5s);
    EXPECT_TRUE(TaggedProcesses(tag_).empty()) << "processes left behind";
  }

  // Starts `meshsim run --metrics` and returns each process's metrics URL.
  std::vector<std::string> StartCluster(const std::string& scenario, int nodes) {
    run_ = StartMeshsim(
        "run", {"run", scenario, "--nodes", std::to_string(nodes), "--metrics", "--json", result_}, tag_);
    std::vector<std::string> urls;
    const bool listed = WaitFor(
        [&] {
          urls.clear();
          for (const auto& line : run_->Tail()) {
            std::smatch url;
            if (std::regex_search(line, url, std::regex(R"(http://\S+/metrics)"))) urls.push_back(url.str());
          }
          return urls.size() == static_cast<size_t>(nodes) + 1;
        },
        30s);
    EXPECT_TRUE(listed) << "run --metrics did not list every process's metrics";
    return urls;
  }

  // Starts a Prometheus server scraping `urls` every 500 ms.
  void StartPrometheus(const std::string& binary, const std::vector<std::string>& urls) {
    std::string targets;
    for (const auto& url : urls) {
      targets += (targets.empty() ? "\"" : ", \"") + url.substr(7, url.find("/metrics") - 7) + "\"";
    }
    const std::string config =
        dir_.Write("prometheus.yml",
                   "global:\n  scrape_interval: 500ms\nscrape_configs:\n  - job_name: meshsim\n"
                   "    static_configs:\n      - targets: [" +
                       targets + "]\n");
    const uint16_t port = FreePort();
    api_ = "http://127.0.0.1:" + std::to_string(port);
    auto prometheus = process::ChildProcess::Spawn(
        {.name = "prometheus",
         .argv = {binary, "--config.file=" + config, "--storage.tsdb.path=" + dir_.path() + "/tsdb",
                  "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
         .extra_env = {"MESHSIM_TEST_TAG=" + tag_}});
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = std::move(*prometheus);
    ASSERT_TRUE(WaitFor([&] { return !HttpGet(api_ + "/-/ready").empty(); }, 30s))
        << "prometheus did not start";
  }

  static std::string WithRateInterval(const std::string& expr) {
    return std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
  }

  nlohmann::json Query(const std::string& expr) {
    const std::string body = HttpGet(api_ + "/api/v1/query?query=" + UrlEncode(expr));
    return body.empty() ? nlohmann::json() : nlohmann::json::parse(body, nullptr, false);
  }

  // The value of a query that returns one series, or -1.
  double Scalar(const std::string& expr) {
    const auto answer = Query(expr);
    if (!answer.is_object() || answer["data"]["result"].empty()) return -1.0;
    return std::stod(answer["data"]["result"][0]["value"][1].get<std::string>());
  }

  // The query's value once it equals `expected` (or, with expected -1, once
  // it has a series), or the last value after 20 s.
  double ScalarOnceEqual(const std::string& expr, double expected) {
    double value = -1;
    WaitFor(
        [&] {
          value = Scalar(expr);
          return expected == -1 ? value >= 0 : value == expected;
        },
        20s);
    return value;
  }

  void ExpectEveryDashboardQueryReturnsSeries() {
    int checked = 0;
    for (const auto& file : DashboardFiles()) {
      const nlohmann::json dashboard = ReadJson(file);
      for (const auto& panel : dashboard["panels"]) {
        if (IsRow(panel)) continue;
        for (const auto& target : panel["targets"]) {
          const auto answer = Query(WithRateInterval(target["expr"]));
          const std::string expr = target["expr"];
          ASSERT_TRUE(answer.is_object()) << expr;
          EXPECT_EQ(answer["status"], "success") << expr << ": " << answer.dump();
          EXPECT_FALSE(answer["data"]["result"].empty()) << std::filesystem::path(file).filename() << " / "
                                                         << panel["title"] << ": no series for " << expr;
          ++checked;
        }
      }
    }
    EXPECT_GE(checked, 20);
  }

  const std::string tag_ = NewTag();
  TempDir dir_;
  std::string api_;  // the Prometheus server's HTTP API
  const std::string result_ = dir_.path() + "/result.json";
  std::unique_ptr<process::ChildProcess> run_;
  std::unique_ptr<process::ChildProcess> prometheus_;
};

TEST_F(MetricsTest, PromtoolAcceptsEveryProcesssMetrics) {
  if (Which("promtool").empty()) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  const auto urls = StartCluster(SourcePath("scenarios/epidemic.yaml"), 2);
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(result_); }, 60s)) << "the job did not finish";
  for (const auto& url : urls) {
    const std::string body = HttpGet(url);
    ASSERT_NE(body.find("meshsim_build_info"), std::string::npos) << url;
    EXPECT_NE(body.find("process_cpu_seconds_total"), std::string::npos) << url;
    const std::string file = dir_.Write("metrics.txt", body);
    const auto [code, output] = Shell("promtool check metrics < " + file);
    EXPECT_EQ(code, 0) << url << "\n" << output;
  }
}

TEST_F(MetricsTest, PrometheusScrapesTheClusterAndEveryDashboardQueryReturnsSeries) {
  const std::string prometheus_binary = Which("prometheus");
  if (prometheus_binary.empty()) {
    GTEST_SKIP() << "the prometheus server is not installed (Debian package prometheus); "
                    "scripts/test.sh installs it";
  }
  // PHOLD for a few seconds on 2 nodes, so Prometheus sees it running.
  const std::string scenario = dir_.Write(
      "long.yaml",
      WithLine(ReadText(SourcePath("scenarios/phold-bench.yaml")), "end_time", "end_time: 2500.0"));
  const auto urls = StartCluster(scenario, 2);
  ASSERT_EQ(urls.size(), 3u);
  ASSERT_NO_FATAL_FAILURE(StartPrometheus(prometheus_binary, urls));
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(result_); }, 120s)) << "the job did not finish";
  const nlohmann::json result = ReadJson(result_);
  ASSERT_EQ(result["state"], "COMPLETED");
  const double committed = result["committed_events"];

  // Once Prometheus has scraped the nodes after the job, their event
  // counters add up to exactly the job's committed events.
  EXPECT_EQ(ScalarOnceEqual("sum(meshsim_node_events_processed_total)", committed), committed)
      << "scraped event counters disagree with the job result";
  // Every frame a node took from a shm ring was counted once by how long it
  // kept the node waiting, and every one of them was accepted.
  const double shm_frames =
      ScalarOnceEqual(R"(sum(meshsim_node_link_messages_received_total{transport="shm"}))", -1);
  EXPECT_EQ(ScalarOnceEqual("sum(meshsim_node_frame_waits_total)", shm_frames), shm_frames)
      << "frame waits do not count the shm frames received";
  EXPECT_GT(shm_frames, 0);
  // rate() needs two samples of every target in its window.
  const bool scraped_enough = WaitFor(
      [&] {
        const auto answer = Query("min(count_over_time(up[1m])) >= 3 and count(up == 1) == 3");
        return answer.is_object() && !answer["data"]["result"].empty();
      },
      20s);
  ASSERT_TRUE(scraped_enough) << Query("up").dump();
  ExpectEveryDashboardQueryReturnsSeries();
}

// An optimistic job on 2 tcp nodes let run ahead 20 lookaheads, half of
// PHOLD's events crossing nodes, so it rolls back: the scraped counters account for every event run
// (committed or undone), every anti-message sent was received, GVT reached the end time, and every query of
// the dashboard's optimistic row gives a number.
TEST_F(MetricsTest, PrometheusFollowsAnOptimisticJobAndItsDashboardRow) {
  const std::string prometheus_binary = Which("prometheus");
  if (prometheus_binary.empty()) GTEST_SKIP() << "the prometheus server is not installed";
  // About 15 s here: Prometheus, started after the job, sees it run.
  std::string yaml = ReadText(SourcePath("scenarios/phold-bench.yaml"));
  yaml = WithLine(yaml, "end_time", "end_time: 6000.0");
  yaml = std::regex_replace(yaml, std::regex("remote_fraction: [0-9.]+"), "remote_fraction: 0.5");
  yaml = WithLine(yaml, "transport", "transport: tcp\nsync: optimistic\noptimism: { time_window: 2 }");
  const auto urls = StartCluster(dir_.Write("optimistic.yaml", yaml), 2);
  ASSERT_EQ(urls.size(), 3u);
  ASSERT_NO_FATAL_FAILURE(StartPrometheus(prometheus_binary, urls));
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(result_); }, 120s)) << "the job did not finish";
  const nlohmann::json result = ReadJson(result_);
  ASSERT_EQ(result["state"], "COMPLETED");
  ASSERT_EQ(result["sync"], "optimistic");
  const double committed = result["committed_events"];
  const double rolled_back = result["optimistic"]["rolled_back"];
  ASSERT_GT(rolled_back, 0) << result["optimistic"].dump();

  EXPECT_EQ(ScalarOnceEqual("sum(meshsim_node_events_processed_total)", committed), committed);
  EXPECT_EQ(ScalarOnceEqual("sum(meshsim_node_rolled_back_events_total)", rolled_back), rolled_back);
  EXPECT_EQ(ScalarOnceEqual("sum(meshsim_node_optimistic_events_run_total)", committed + rolled_back),
            committed + rolled_back)
      << "events run are not the committed and the rolled-back ones";
  const double antis = result["optimistic"]["anti_messages_sent"];
  EXPECT_EQ(ScalarOnceEqual(R"(sum(meshsim_node_anti_messages_total{direction="received"}))", antis), antis);
  EXPECT_EQ(ScalarOnceEqual("min(meshsim_node_gvt)", 6000.0), 6000.0) << "GVT did not reach the end time";
  // What the job's history took (its rings keep their size through a run).
  EXPECT_GT(ScalarOnceEqual("max(meshsim_node_saved_state_bytes)", -1), 0);
  // The job's memory, as its result reports it, per part and node.
  const double peak = result["memory"]["peak_rss_bytes"];
  EXPECT_EQ(ScalarOnceEqual("sum(meshsim_node_job_peak_resident_bytes)", peak), peak);
  const double saved = result["memory"]["saved_state_bytes"];
  EXPECT_EQ(ScalarOnceEqual(R"(sum(meshsim_node_job_memory_bytes{part="saved_states"}))", saved), saved);
  EXPECT_GT(saved, 0);

  const auto panels = PanelsUnderRow("Optimistic synchronization");
  ASSERT_GE(panels.size(), 6u);
  for (const auto& panel : panels) {
    for (const auto& target : panel["targets"]) {
      const std::string expr = WithRateInterval(target["expr"]);
      // Every node's series, each a number (not the NaN of a rate that saw
      // nothing run): rate() needs the job to span two scrapes.
      const bool numbers = WaitFor(
          [&] {
            const auto answer = Query(expr);
            if (!answer.is_object() || answer["data"]["result"].empty()) return false;
            for (const auto& series : answer["data"]["result"]) {
              if (series["value"][1] == "NaN") return false;
            }
            return true;
          },
          20s);
      EXPECT_TRUE(numbers) << panel["title"] << ": " << expr << " gives " << Query(expr).dump();
    }
  }
}

}  // namespace
}  // namespace meshsim::testing
