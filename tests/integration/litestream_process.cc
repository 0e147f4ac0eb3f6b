#include "tests/integration/litestream_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <utility>

extern char** environ;  // NOLINT: POSIX declares it nowhere else

namespace ltxbus::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status MakePipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno("pipe2", errno);
  *read_end = Fd(fds[0]);
  *write_end = Fd(fds[1]);
  return Status::OK();
}

// posix_spawn's file actions, released on every path.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&fa_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
};

Result<pid_t> SpawnWith(const std::vector<std::string>& argv, FileActions& actions) {
  if (argv.empty()) return Status::InvalidArgument("empty command");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  // posix_spawnp searches PATH only for names without a '/'.
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), actions.get(), nullptr, args.data(), environ);
  if (rc != 0) return Status::FromErrno("spawn " + argv[0], rc);
  return pid;
}

int DecodeWaitStatus(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// Reaps `pid` if it has exited; returns its exit code then.
std::optional<int> TryReap(pid_t pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) return DecodeWaitStatus(status);
  if (r < 0 && errno == ECHILD) return -1;  // already reaped elsewhere
  return std::nullopt;
}

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, milliseconds timeout) {
  Fd out_read, out_write;
  LTXBUS_RETURN_IF_ERROR(MakePipe(&out_read, &out_write));
  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(actions.get(), out_write.get(), 1);
  posix_spawn_file_actions_adddup2(actions.get(), out_write.get(), 2);
  LTXBUS_ASSIGN_OR_RETURN(pid_t pid, SpawnWith(argv, actions));
  out_write.Close();

  CommandResult result;
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  while (out_read.get() >= 0) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd = {out_read.get(), POLLIN, 0};
    int pr = ::poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (pr < 0 && errno != EINTR) return Status::FromErrno("poll", errno);
    if ((fd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buf[8192];
      ssize_t r = ::read(out_read.get(), buf, sizeof buf);
      if (r > 0) {
        result.output.append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        out_read.Close();  // EOF: every holder of the write end is gone
      }
    }
  }
  // The output closes just before exit; give the exit a moment, bounded by the deadline.
  for (;;) {
    if (std::optional<int> code = TryReap(pid)) {
      result.exit_code = *code;
      break;
    }
    if (timed_out || Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      return Status::Timeout("`{}` still running after {} ms; output so far:\n{}", JoinArgs(argv),
                             timeout.count(), result.output);
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  return result;
}

Result<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                         const std::string& log_path) {
  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(actions.get(), 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(actions.get(), 1, 2);
  LTXBUS_ASSIGN_OR_RETURN(pid_t pid, SpawnWith(argv, actions));
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_code_(std::exchange(other.exit_code_, {})) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    exit_code_ = std::exchange(other.exit_code_, {});
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

void ChildProcess::KillAndReap() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_code_ = -1;
  }
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || exit_code_) return false;
  exit_code_ = TryReap(pid_);
  return !exit_code_;
}

Result<int> ChildProcess::Wait(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Running()) {
    if (Clock::now() >= deadline) {
      return Status::Timeout("process {} still running after {} ms", pid_, timeout.count());
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  if (!exit_code_) return Status::Internal("process {} was never started", pid_);
  return *exit_code_;
}

Result<int> ChildProcess::Stop(milliseconds grace) {
  if (!Running()) {
    if (!exit_code_) return Status::Internal("no process");
    return *exit_code_;
  }
  ::kill(pid_, SIGTERM);
  Result<int> code = Wait(grace);
  if (code.ok()) return code;
  KillAndReap();
  return -1;
}

std::string ToolPath(const std::string& name) {
  std::string tools;
  if (const char* t = std::getenv("LTXBUS_TOOLS"); t != nullptr && *t != '\0') {
    tools = t;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    tools = std::string(x) + "/ltxbus";
  } else if (const char* h = std::getenv("HOME"); h != nullptr) {
    tools = std::string(h) + "/.cache/ltxbus";
  }
  return tools + "/bin/" + name;
}

std::string LtxbusBinary() {
  if (const char* b = std::getenv("LTXBUS_BINARY"); b != nullptr && *b != '\0') return b;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / "ltxbus").string();
}

}  // namespace ltxbus::testing
