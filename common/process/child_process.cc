#include "common/process/child_process.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings/format.h"

namespace meshsim::process {

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return StrCat("exited with code ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return StrCat("killed by signal ", WTERMSIG(wait_status), " (", strsignal(WTERMSIG(wait_status)), ")");
  }
  return StrCat("wait status ", wait_status);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(Options options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(StrCat("pipe2: ", std::strerror(errno)));
  }
  // Everything the child needs is prepared before fork: after fork in a
  // threaded process only async-signal-safe calls are allowed.
  std::vector<char*> argv;
  for (auto& arg : options.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // extra_env entries replace inherited ones of the same name (getenv would
  // find whichever comes first).
  auto overridden = [&](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('=') + 1);
    for (const auto& extra : options.extra_env) {
      if (std::string_view(extra).starts_with(name)) return true;
    }
    return false;
  };
  std::vector<char*> envp;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!overridden(*entry)) envp.push_back(*entry);
  }
  for (auto& entry : options.extra_env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    setpgid(0, 0);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Reset what the parent may have changed: children start clean.
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp.data());
    const char message[] = "@meshsim exec_failed=1\n";
    (void)!write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(127);
  }
  close(fds[1]);
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess(std::move(options), pid, fds[0]));
  return child;
}

ChildProcess::ChildProcess(Options options, pid_t pid, int read_fd)
    : options_(std::move(options)), pid_(pid), read_fd_(read_fd) {
  reader_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "child-reader");
    ReadLoop();
  });
}

ChildProcess::~ChildProcess() {
  if (running()) Stop(std::chrono::seconds(0));
  if (reader_.joinable()) reader_.join();
  close(read_fd_);
}

void ChildProcess::ReadLoop() {
  std::string pending;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(read_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t newline; (newline = pending.find('\n', start)) != std::string::npos; start = newline + 1) {
      std::string line = pending.substr(start, newline - start);
      if (line.starts_with(kStatusPrefix)) {
        std::lock_guard lock(mutex_);
        status_lines_.push_back(line.substr(kStatusPrefix.size()));
        changed_.notify_all();
        continue;
      }
      if (options_.on_log_line) options_.on_log_line(options_.name, line);
      std::lock_guard lock(mutex_);
      tail_.push_back(std::move(line));
      if (tail_.size() > options_.tail_lines) tail_.pop_front();
    }
    pending.erase(0, start);
  }
  std::lock_guard lock(mutex_);
  output_closed_ = true;
  changed_.notify_all();
}

absl::StatusOr<std::string> ChildProcess::WaitForStatus(std::string_view key, Deadline deadline) {
  const std::string prefix = StrCat(key, "=");
  std::unique_lock lock(mutex_);
  for (;;) {
    for (const auto& line : status_lines_) {
      if (line.starts_with(prefix)) return line.substr(prefix.size());
    }
    if (output_closed_) {
      return absl::UnavailableError(StrCat(options_.name, " exited before reporting ", key));
    }
    if (changed_.wait_until(lock, deadline.at()) == std::cv_status::timeout && deadline.Expired()) {
      return absl::DeadlineExceededError(StrCat(options_.name, " did not report ", key, " in time"));
    }
  }
}

bool ChildProcess::WaitForOutputEnd(Deadline deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline.at(), [this] { return output_closed_; });
}

std::vector<std::string> ChildProcess::Tail() const {
  std::lock_guard lock(mutex_);
  return {tail_.begin(), tail_.end()};
}

void ChildProcess::Signal(int signal) const { kill(pid_, signal); }

bool ChildProcess::running() {
  std::lock_guard lock(mutex_);
  if (wait_status_) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    wait_status_ = status;
    return false;
  }
  return true;
}

std::optional<int> ChildProcess::Wait(Deadline deadline) {
  for (auto pause = std::chrono::milliseconds(1);;
       pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    if (!running()) {
      std::lock_guard lock(mutex_);
      return wait_status_;
    }
    if (deadline.Expired()) return std::nullopt;
    std::this_thread::sleep_for(pause);
  }
}

int ChildProcess::Stop(Duration grace) {
  if (running()) {
    Signal(SIGTERM);
    if (auto status = Wait(Deadline::After(grace))) return *status;
    Signal(SIGKILL);
  }
  return *Wait(Deadline::Never());
}

}  // namespace meshsim::process
