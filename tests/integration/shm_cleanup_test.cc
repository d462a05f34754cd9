// Shared-memory segments never outlive their job: not when a node is killed
// with SIGKILL mid-job, not when a ring is corrupted, not when `meshsim run`
// is interrupted. A scribbled ring fails its job with a clear error.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/transport/shm/ring_descriptor.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster_test_base.h"

namespace meshsim::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kLongScenario[] = R"(
name: long-shm
model: phold
transport: shm
seed: 5
end_time: 1000000
lookahead: 0.1
params:
  lps: 2048
  remote_fraction: 0.2
)";

// Names in /dev/shm that contain `needle`.
std::vector<std::string> Segments(const std::string& needle) {
  std::vector<std::string> found;
  if (DIR* dir = opendir("/dev/shm")) {
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name.starts_with("meshsim.") && name.find(needle) != std::string::npos) found.push_back(name);
    }
    closedir(dir);
  }
  return found;
}

// Rings of the job's first attempt.
std::string JobNeedle(uint64_t job) { return ".j" + std::to_string(job) + "a1."; }

class ShmCleanupTest : public ClusterTestBase {
 protected:
  // Without restarts, so a lost node ends the job and its cleanup shows.
  uint64_t StartLongJob(int nodes) {
    const uint64_t job = cluster_->SubmitDetached(
        dir_.Write("long.yaml", std::string(kLongScenario) + "max_restarts: 0\n"), nodes);
    EXPECT_TRUE(cluster_->WaitUntilRunning(job)) << Status(job).dump();
    return job;
  }
  void ExpectNextJobCompletes(int nodes) {
    auto next = cluster_->Submit(SourcePath("scenarios/phold.yaml"), nodes);
    EXPECT_EQ(next.exit_code, 0) << next.output;
  }
};

TEST_F(ShmCleanupTest, NodeKilledMidJobLeavesNoSegmentOfTheJob) {
  cluster_ = std::make_unique<Cluster>(3, tag_, /*node_timeout_seconds=*/1.0);
  const uint64_t job = StartLongJob(3);
  EXPECT_EQ(Segments(JobNeedle(job)).size(), 6u) << "expected one ring per directed link";
  const pid_t victim = cluster_->node(1).pid();
  cluster_->node(1).Signal(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return Status(job)["state"] == "FAILED"; }, 15s));
  EXPECT_NE(Status(job)["reason"].get<std::string>().find("lost"), std::string::npos);
  // Survivors remove the job's rings, the victim's included, and sweep its probe.
  EXPECT_TRUE(WaitFor([&] { return Segments(JobNeedle(job)).empty(); }, 10s))
      << Segments(JobNeedle(job)).size() << " segments of the job remain";
  EXPECT_TRUE(WaitFor([&] { return Segments("meshsim." + std::to_string(victim) + ".").empty(); }, 10s));
  ExpectNextJobCompletes(2);
}

TEST_F(ShmCleanupTest, ScribbledRingHeaderFailsTheJobClearly) {
  cluster_ = std::make_unique<Cluster>(2, tag_);
  const uint64_t job = StartLongJob(2);
  const auto rings = Segments(JobNeedle(job));
  ASSERT_FALSE(rings.empty());
  const int fd = shm_open(("/" + rings[0]).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  void* map = mmap(nullptr, transport::shm::kRingHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  ASSERT_NE(map, MAP_FAILED);
  auto* descriptor = static_cast<transport::shm::RingDescriptor*>(map);
  descriptor->magic = 0xbadbadbadbadULL;
  munmap(map, transport::shm::kRingHeaderBytes);

  ASSERT_TRUE(WaitFor([&] { return Status(job)["state"] == "FAILED"; }, 15s)) << Status(job).dump();
  const std::string reason = Status(job)["reason"];
  EXPECT_NE(reason.find("corrupted"), std::string::npos) << reason;
  EXPECT_NE(reason.find(rings[0]), std::string::npos) << reason;
  EXPECT_TRUE(WaitFor([&] { return Segments(JobNeedle(job)).empty(); }, 10s));
  ExpectNextJobCompletes(2);
}

// A node in its own mount namespace, with a /dev/shm of its own, is what a
// node on another host or in an unshared container looks like: its probe
// is not visible to the others.
TEST_F(ShmCleanupTest, NodeThatCannotShareMemoryGetsTcpLinksOrARefusal) {
  if (geteuid() != 0 || access("/usr/bin/unshare", X_OK) != 0) {
    GTEST_SKIP() << "needs root and unshare(1) to give a node its own /dev/shm";
  }
  {
    // unshare fails where / is not a mount point (a chroot): nothing to test there.
    auto probe = process::ChildProcess::Spawn(
        {.name = "unshare-probe",
         .argv = {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/true"}});
    ASSERT_TRUE(probe.ok());
    const auto status = (*probe)->Wait(Deadline::After(10s));
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      GTEST_SKIP() << "this machine cannot make a private mount namespace (unshare --mount failed)";
    }
  }
  cluster_ = std::make_unique<Cluster>(2, tag_);
  auto isolated = process::ChildProcess::Spawn(
      {.name = "isolated",
       .argv = {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                "mount -t tmpfs -o mode=1777 tmpfs /dev/shm && exec \"$0\" node --coordinator \"$1\" --name "
                "isolated",
                MeshsimBinary(), cluster_->endpoint()},
       .extra_env = {"MESHSIM_TEST_TAG=" + tag_},
       .tail_lines = 1000});
  ASSERT_TRUE(isolated.ok());
  const auto registered = (*isolated)->WaitForStatus("node_id", Deadline::After(10s));
  ASSERT_TRUE(registered.ok()) << registered.status().message() << "\n"
                               << fmt::format("{}", fmt::join((*isolated)->Tail(), "\n"));

  // auto: shm between the two that share /dev/shm, tcp to the isolated one.
  const std::string out = dir_.path() + "/mixed.json";
  auto mixed = cluster_->Submit(SourcePath("scenarios/phold.yaml"), 3, out);
  ASSERT_EQ(mixed.exit_code, 0) << mixed.output;
  const auto result = ReadJson(out);
  uint32_t isolated_id = 0;
  for (const auto& node : cluster_->ListNodes()) {
    if (node["name"] == "isolated") isolated_id = node["id"];
  }
  int shm = 0, tcp = 0;
  for (const auto& link : result["links"]) {
    const bool touches_isolated = link["from"] == isolated_id || link["to"] == isolated_id;
    EXPECT_EQ(link["transport"], touches_isolated ? "tcp" : "shm") << link.dump();
    (link["transport"] == "shm" ? shm : tcp) += 1;
  }
  EXPECT_EQ(shm, 2);
  EXPECT_EQ(tcp, 4);
  auto one = RunMeshsim(
      {"run", SourcePath("scenarios/phold.yaml"), "--nodes", "1", "--json", dir_.path() + "/one.json"}, tag_);
  EXPECT_EQ(ReadJson(dir_.path() + "/one.json")["digest"], result["digest"])
      << "mixed transports changed the result";

  // shm forced: refused, naming the problem.
  auto forced = cluster_->Submit(
      dir_.Write("shm.yaml", "model: phold\ntransport: shm\nend_time: 10\nlookahead: 0.1\n"), 3);
  EXPECT_EQ(forced.exit_code, 1);
  EXPECT_NE(forced.output.find("cannot share memory"), std::string::npos) << forced.output;
  (*isolated)->Stop(5s);
}

TEST(RunShmCleanupTest, InterruptedRunLeavesNoSegments) {
  const std::string tag = NewTag();
  TempDir dir;
  auto run =
      StartMeshsim("run", {"run", dir.Write("long.yaml", kLongScenario), "--nodes", "3", "--show-logs"}, tag);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& line : run->Tail()) {
          if (line.find("ASSIGNING -> RUNNING") != std::string::npos) return true;
        }
        return false;
      },
      30s));
  ASSERT_TRUE(WaitFor([] { return !Segments(".j1a1.").empty(); }, 10s));
  std::vector<pid_t> pids = TaggedProcesses(tag);
  run->Signal(SIGINT);
  ASSERT_TRUE(run->Wait(Deadline::After(20s)).has_value());
  EXPECT_TRUE(WaitFor([&] { return TaggedProcesses(tag).empty(); }, 10s));
  for (pid_t pid : pids) EXPECT_TRUE(Segments("meshsim." + std::to_string(pid) + ".").empty()) << pid;
}

}  // namespace
}  // namespace meshsim::testing
