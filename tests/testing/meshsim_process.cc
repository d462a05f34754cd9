#include "tests/testing/meshsim_process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"

namespace meshsim::testing {

std::string MeshsimBinary() {
  const char* bin = std::getenv("MESHSIM_BIN");
  return bin != nullptr ? bin : MESHSIM_DEFAULT_BIN;
}

std::string SourcePath(const std::string& relative) {
  const char* root = std::getenv("MESHSIM_SOURCE_DIR");
  return std::string(root != nullptr ? root : MESHSIM_DEFAULT_SOURCE_DIR) + "/" + relative;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "meshsim-test-XXXXXX").string();
  path_ = mkdtemp(pattern.data());
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  const std::string file = path_ + "/" + name;
  std::ofstream(file) << content;
  return file;
}

std::string NewTag() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

std::vector<pid_t> TaggedProcesses(const std::string& tag) {
  const std::string needle = "MESHSIM_TEST_TAG=" + tag;
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream environ("/proc/" + std::string(entry->d_name) + "/environ");
    std::stringstream content;
    content << environ.rdbuf();
    const std::string text = content.str();
    // Entries are NUL-separated; match a whole entry.
    for (size_t start = 0; start < text.size();) {
      const size_t end = text.find('\0', start);
      if (text.compare(start, (end == std::string::npos ? text.size() : end) - start, needle) == 0) {
        // A zombie still has an entry in /proc but is gone for our purposes.
        std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
        std::string ignored_pid, ignored_comm, state;
        stat >> ignored_pid >> ignored_comm >> state;
        if (state != "Z") found.push_back(pid);
        break;
      }
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  closedir(proc);
  return found;
}

std::unique_ptr<process::ChildProcess> StartMeshsim(const std::string& name,
                                                    const std::vector<std::string>& args,
                                                    const std::string& tag) {
  std::vector<std::string> argv = {MeshsimBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = process::ChildProcess::Spawn(
      {.name = name, .argv = argv, .extra_env = {"MESHSIM_TEST_TAG=" + tag}, .tail_lines = 100000});
  if (!child.ok()) {
    ADD_FAILURE() << "cannot start meshsim: " << child.status().message();
    return nullptr;
  }
  return std::move(*child);
}

CommandResult RunMeshsim(const std::vector<std::string>& args, const std::string& tag, Duration timeout) {
  CommandResult result;
  auto child = StartMeshsim("meshsim", args, tag);
  if (!child) return result;
  const Deadline deadline = Deadline::After(timeout);
  auto status = child->Wait(deadline);
  if (!status) {
    ADD_FAILURE() << "meshsim did not finish in time; killing it";
    child->Stop(std::chrono::seconds(2));
  } else if (WIFEXITED(*status)) {
    result.exit_code = WEXITSTATUS(*status);
  }
  child->WaitForOutputEnd(Deadline::After(std::chrono::seconds(10)));
  for (const auto& line : child->Tail()) result.output += line + "\n";
  return result;
}

bool WaitFor(const std::function<bool()>& condition, Duration timeout) {
  const Deadline deadline = Deadline::After(timeout);
  while (!condition()) {
    if (deadline.Expired()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) ADD_FAILURE() << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string WithLine(std::string yaml, const std::string& key, const std::string& line) {
  const size_t at = yaml.find("\n" + key + ":");
  if (at == std::string::npos) {
    ADD_FAILURE() << "no line '" << key << ":' in the scenario";
    return yaml;
  }
  const size_t end = yaml.find('\n', at + 1);
  return yaml.replace(at + 1, end - at - 1, line);
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << " is not JSON: " << e.what();
    return {};
  }
}

Cluster::Cluster(int nodes, const std::string& tag, double node_timeout_seconds,
                 const std::vector<std::vector<std::string>>& node_args,
                 const std::vector<std::string>& coordinator_args)
    : tag_(tag) {
  std::vector<std::string> args = {"coordinator",
                                   "--bind",
                                   "tcp://127.0.0.1:0",
                                   "--node-timeout",
                                   std::to_string(node_timeout_seconds),
                                   "--heartbeat-interval",
                                   "0.1",
                                   "--state-dir",
                                   state_dir_.path() + "/state"};
  args.insert(args.end(), coordinator_args.begin(), coordinator_args.end());
  coordinator_ = StartMeshsim("coordinator", args, tag);
  auto endpoint = coordinator_->WaitForStatus("rpc", Deadline::After(std::chrono::seconds(10)));
  if (!endpoint.ok()) {
    ADD_FAILURE() << endpoint.status().message();
    return;
  }
  endpoint_ = *endpoint;
  for (int i = 0; i < nodes; ++i) {
    std::vector<std::string> args = {"node", "--coordinator", endpoint_, "--name",
                                     "node-" + std::to_string(i + 1)};
    if (static_cast<size_t>(i) < node_args.size())
      args.insert(args.end(), node_args[i].begin(), node_args[i].end());
    nodes_.push_back(StartMeshsim("node-" + std::to_string(i + 1), args, tag));
  }
  for (auto& node : nodes_) {
    auto id = node->WaitForStatus("node_id", Deadline::After(std::chrono::seconds(10)));
    if (!id.ok()) ADD_FAILURE() << id.status().message();
  }
}

void StopNodes(std::vector<std::unique_ptr<process::ChildProcess>>& nodes, std::chrono::milliseconds grace) {
  for (auto& node : nodes) {
    if (node->running()) node->Signal(SIGTERM);
  }
  for (auto& node : nodes) node->Stop(grace);
}

std::vector<std::string> SegmentsOf(pid_t pid) {
  std::vector<std::string> names;
  const std::string prefix = "meshsim." + std::to_string(pid) + ".";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", error)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix)) names.push_back(name);
  }
  return names;
}

Cluster::~Cluster() {
  StopNodes(nodes_);
  if (coordinator_) coordinator_->Stop(std::chrono::seconds(5));
}

nlohmann::json Cluster::ListNodes() const {
  TempDir dir;
  auto result = RunMeshsim({"nodes", "--coordinator", endpoint_, "--json"}, tag_, std::chrono::seconds(20));
  if (result.exit_code != 0) {
    ADD_FAILURE() << "meshsim nodes failed: " << result.output;
    return {};
  }
  try {
    return nlohmann::json::parse(result.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "meshsim nodes --json printed no JSON: " << result.output;
    return {};
  }
}

}  // namespace meshsim::testing

namespace meshsim::testing {

CommandResult Cluster::Submit(const std::string& scenario_path, int nodes,
                              const std::string& json_out) const {
  std::vector<std::string> args = {"submit",  scenario_path, "--coordinator",
                                   endpoint_, "--nodes",     std::to_string(nodes)};
  if (!json_out.empty()) args.insert(args.end(), {"--json", json_out});
  return RunMeshsim(args, tag_);
}

nlohmann::json Cluster::JobStatus(uint64_t job) const {
  auto result = RunMeshsim({"status", std::to_string(job), "--coordinator", endpoint_, "--json"}, tag_,
                           std::chrono::seconds(20));
  try {
    return nlohmann::json::parse(result.output);
  } catch (const std::exception&) {
    return {};
  }
}

uint64_t Cluster::SubmitDetached(const std::string& scenario_path, int nodes) const {
  auto result = RunMeshsim({"submit", scenario_path, "--coordinator", endpoint_, "--nodes",
                            std::to_string(nodes), "--detach", "--json", "-"},
                           tag_, std::chrono::seconds(20));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  try {
    return nlohmann::json::parse(result.output)["job_id"].get<uint64_t>();
  } catch (const std::exception&) {
    ADD_FAILURE() << "submit printed no job id: " << result.output;
    return 0;
  }
}

bool Cluster::WaitUntilRunning(uint64_t job) const {
  return WaitFor(
      [&] {
        const auto status = JobStatus(job);
        return status.is_object() && status["state"] == "RUNNING" && status["virtual_time"].get<double>() > 0;
      },
      std::chrono::seconds(30));
}

// GET http://127.0.0.1:port/path over HTTP/1.0; the body, or "" on failure.
std::string HttpGet(const std::string& url) {
  static const std::regex kUrl(R"(http://([0-9.]+):([0-9]+)(/.*))");
  std::smatch match;
  if (!std::regex_match(url, match, kUrl)) return "";
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(match[2])));
  inet_pton(AF_INET, match[1].str().c_str(), &address.sin_addr);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET " + match[3].str() + " HTTP/1.0\r\nHost: " + match[1].str() + "\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[65536];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;)
        response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") > response.find("\r\n")) return "";
  return body == std::string::npos ? "" : response.substr(body + 4);
}

}  // namespace meshsim::testing
