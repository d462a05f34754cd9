// The formats the meshsim command prints and writes: the --json job
// document (a stable interface, docs/cli.md), the CSV of a job's series,
// the result table, and the exit code a failure maps to.
#include "cli/output.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "gtest/gtest.h"

namespace meshsim::cli {
namespace {

namespace fs = std::filesystem;

v1::JobInfo CompletedJob() {
  v1::JobInfo job;
  job.set_job_id(42);
  job.set_state(v1::COMPLETED);
  job.set_attempt(2);
  job.add_assigned_nodes(1);
  job.add_assigned_nodes(2);
  auto* s = job.mutable_scenario();
  s->set_name("town");
  s->set_model("epidemic");
  s->set_seed(7);
  s->set_end_time(100);
  s->set_lookahead(0.5);
  s->set_nodes(2);
  (*s->mutable_params())["population"] = 1000;
  auto* restart = job.add_restarts();
  restart->set_attempt(2);
  restart->set_reason("node 2 lost");
  restart->set_from_window(10);
  restart->set_replayed_windows(3);
  restart->set_nodes(2);
  auto* r = job.mutable_result();
  r->set_committed_events(12345);
  r->set_end_time(100);
  r->set_windows(200);
  r->set_wall_seconds(0.5);
  r->set_event_rate(24690);
  r->set_digest(0xabcdefULL);
  (*r->mutable_summary())["recovered"] = 900;
  for (uint32_t id : {1u, 2u}) {
    auto* node = r->add_nodes();
    node->set_node_id(id);
    node->set_rank(id - 1);
    node->set_committed_events(id == 1 ? 6000 : 6345);
    auto* link = node->add_links();
    link->set_from_node(id);
    link->set_to_node(3 - id);
    link->set_transport(v1::TRANSPORT_SHM);
    link->set_messages(200);
    link->set_bytes(4096);
    link->set_events(50);
  }
  r->set_series_interval(50);
  for (const char* name : {"susceptible", "infectious"}) {
    auto* series = r->add_series();
    series->set_name(name);
    for (int64_t v : {10, 20, 30}) series->add_values(name[0] == 's' ? 100 - v : v);
  }
  return job;
}

TEST(JobJsonTest, CompletedJobHasItsResultNodesLinksAndSeries) {
  const nlohmann::json j = JobJson(CompletedJob());
  EXPECT_EQ(j["job_id"], 42);
  EXPECT_EQ(j["state"], "COMPLETED");
  EXPECT_EQ(j["virtual_time"], 100);  // a completed job reached its end time
  EXPECT_EQ(j["scenario"]["model"], "epidemic");
  EXPECT_EQ(j["scenario"]["params"]["population"], 1000);
  EXPECT_EQ(j["committed_events"], 12345);
  EXPECT_EQ(j["digest"], "0000000000abcdef");  // 16 hex digits, as every tool compares them
  ASSERT_EQ(j["nodes"].size(), 2u);
  EXPECT_EQ(j["nodes"][1]["events"], 6345);
  ASSERT_EQ(j["links"].size(), 2u);
  EXPECT_EQ(j["links"][0]["transport"], "shm");
  EXPECT_EQ(j["summary"]["recovered"], 900);
  EXPECT_EQ(j["series"]["time"], (std::vector<double>{0, 50, 100}));
  EXPECT_EQ(j["series"]["infectious"], (std::vector<int64_t>{10, 20, 30}));
  ASSERT_EQ(j["restarts"].size(), 1u);
  EXPECT_EQ(j["replayed_windows"], 3);
}

TEST(JobJsonTest, UnfinishedJobHasNoResultFields) {
  v1::JobInfo job = CompletedJob();
  job.set_state(v1::RUNNING);
  job.set_virtual_time(37.5);
  const nlohmann::json j = JobJson(job);
  EXPECT_EQ(j["state"], "RUNNING");
  EXPECT_EQ(j["virtual_time"], 37.5);
  for (const char* field : {"committed_events", "digest", "nodes", "links", "series", "summary"}) {
    EXPECT_FALSE(j.contains(field)) << field;
  }
  EXPECT_EQ(j["scenario"], ScenarioJson(job.scenario()));
}

TEST(SeriesCsvTest, OneColumnPerSeriesAfterTime) {
  const fs::path path = fs::temp_directory_path() / ("meshsim-series-" + std::to_string(getpid()) + ".csv");
  ASSERT_TRUE(WriteSeriesCsv(CompletedJob().result(), path.string()).ok());
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  fs::remove(path);
  EXPECT_EQ(text.str(), "time,susceptible,infectious\n0,90,10\n50,80,20\n100,70,30\n");

  const absl::Status none = WriteSeriesCsv(v1::JobResult(), path.string());
  EXPECT_EQ(none.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(path));
}

std::string Printed(const v1::JobInfo& job) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  PrintJob(out, job);
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

TEST(PrintJobTest, TableHasTheTotalsTheDigestAndEachNode) {
  const std::string text = Printed(CompletedJob());
  for (const char* expected : {"job 42  COMPLETED  town", "committed events   12345", "digest             0000000000abcdef",
                               "between nodes      400 messages, 8.0 KiB, 100 events", "restart: attempt 2",
                               "the checkpoint at window 10", "recovered", "infectious"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
}

TEST(PrintJobTest, FailedJobShowsItsReasonAndNoResult) {
  v1::JobInfo job = CompletedJob();
  job.set_state(v1::FAILED);
  job.set_reason("node 2 lost and max_restarts reached");
  const std::string text = Printed(job);
  EXPECT_NE(text.find("reason: node 2 lost and max_restarts reached"), std::string::npos) << text;
  EXPECT_EQ(text.find("committed events"), std::string::npos) << text;
}

TEST(HumanUnitsTest, CountsAndBytes) {
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(8192), "8.0 KiB");
  EXPECT_EQ(HumanBytes(3 << 20), "3.00 MiB");
  EXPECT_NE(HumanCount(12'500'000).find("M"), std::string::npos);
}

TEST(FailWithTest, BadInputOrFailure) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(FailWith(absl::InvalidArgumentError("x")), kExitBadInput);
  EXPECT_EQ(FailWith(absl::NotFoundError("x")), kExitBadInput);
  EXPECT_EQ(FailWith(absl::UnavailableError("coordinator down")), kExitFailed);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("meshsim: coordinator down"), std::string::npos);
}

}  // namespace
}  // namespace meshsim::cli
