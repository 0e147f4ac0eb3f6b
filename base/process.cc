#include "base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

extern char** environ;  // NOLINT: POSIX declares it nowhere else

namespace ltxbus {
namespace {

using Clock = std::chrono::steady_clock;

// A child that prints without end must not exhaust our memory; past this the
// rest is read and dropped.
constexpr size_t kMaxCapture = size_t{64} << 20;
// How long output is still read after the child exited (see Wait()).
constexpr auto kDrainAfterExit = std::chrono::seconds(2);

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// posix_spawn's file actions and attributes, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// The pipes of one Spawn() call; the parent keeps the read ends on success.
struct Pipe {
  int read = -1;
  int write = -1;
  ~Pipe() {
    CloseFd(read);
    CloseFd(write);
  }
  Status Open() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno("pipe2", errno);
    read = fds[0];
    write = fds[1];
    return Status::OK();
  }
};

// Points child fd `target` at a capture pipe, /dev/null, or leaves it.
Status AddStream(SpawnSetup& setup, Stream mode, int target, Pipe& pipe) {
  switch (mode) {
    case Stream::kInherit:
      return Status::OK();
    case Stream::kDiscard:
      if (int err =
              posix_spawn_file_actions_addopen(&setup.actions, target, "/dev/null", O_WRONLY, 0)) {
        return Status::FromErrno("posix_spawn_file_actions_addopen", err);
      }
      return Status::OK();
    case Stream::kCapture:
      LTXBUS_RETURN_IF_ERROR(pipe.Open());
      // dup2 clears O_CLOEXEC on the copy, so only `target` reaches the child.
      if (int err = posix_spawn_file_actions_adddup2(&setup.actions, pipe.write, target)) {
        return Status::FromErrno("posix_spawn_file_actions_adddup2", err);
      }
      return Status::OK();
  }
  return Status::Internal("unknown Stream mode");
}

// The parent's environment with `extra` applied, as "KEY=VALUE" strings.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string, std::less<>> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [key, value] : extra) vars[key] = value;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [key, value] : vars) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Appends up to the capture limit; returns false at EOF or on an error.
bool ReadInto(int fd, std::string& out) {
  char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  size_t room = kMaxCapture > out.size() ? kMaxCapture - out.size() : 0;
  out.append(buf, std::min(room, static_cast<size_t>(n)));
  return true;
}

}  // namespace

Result<Process> Process::Spawn(const std::vector<std::string>& argv,
                               const ProcessOptions& options) {
  if (argv.empty() || argv[0].empty()) return Status::InvalidArgument("empty command line");
  SpawnSetup setup;
  Pipe out_pipe, err_pipe;
  LTXBUS_RETURN_IF_ERROR(AddStream(setup, options.stdout_mode, STDOUT_FILENO, out_pipe));
  if (options.merge_stderr) {
    if (int err = posix_spawn_file_actions_adddup2(&setup.actions, STDOUT_FILENO, STDERR_FILENO)) {
      return Status::FromErrno("posix_spawn_file_actions_adddup2", err);
    }
  } else {
    LTXBUS_RETURN_IF_ERROR(AddStream(setup, options.stderr_mode, STDERR_FILENO, err_pipe));
  }
  if (!options.inherit_stdin) {
    if (int err = posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null",
                                                   O_RDONLY, 0)) {
      return Status::FromErrno("posix_spawn_file_actions_addopen", err);
    }
  }
  // Descriptors the parent opened without O_CLOEXEC (sockets of client
  // libraries, say) must not keep servers or pipes alive in the child.
  if (int err = posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1)) {
    return Status::FromErrno("posix_spawn_file_actions_addclosefrom_np", err);
  }
  if (!options.working_dir.empty()) {
    if (int err =
            posix_spawn_file_actions_addchdir_np(&setup.actions, options.working_dir.c_str())) {
      return Status::FromErrno("posix_spawn_file_actions_addchdir_np", err);
    }
  }
  // Own process group; default signal dispositions and an empty mask, since
  // the parent may ignore SIGPIPE or block signals in its threads.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &empty);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  posix_spawnattr_setflags(
      &setup.attr,
      static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));

  std::vector<std::string> args = argv;
  std::vector<char*> c_args = CStrings(args);
  std::vector<std::string> env = ChildEnvironment(options.env);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = -1;
  int err = posix_spawnp(&pid, c_args[0], &setup.actions, &setup.attr, c_args.data(), c_env.data());
  if (err == ENOENT || err == EACCES || err == ENOEXEC) {
    return Status::NotFound(
        "cannot run `{}`: {}{}", CommandLine(argv), std::strerror(err),
        options.working_dir.empty() ? "" : " (or bad working dir " + options.working_dir + ")");
  }
  if (err != 0) return Status::FromErrno(fmt::format("spawning `{}`", CommandLine(argv)), err);

  Process p;
  p.pid_ = pid;
  p.command_ = CommandLine(argv);
  // Through syscall(): glibc 2.36's <sys/pidfd.h> lacks C++ linkage. Linux
  // before 5.3 says ENOSYS, and Wait() then polls.
  p.pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::swap(p.stdout_fd_, out_pipe.read);
  std::swap(p.stderr_fd_, err_pipe.read);
  return p;
}

Process::Process(Process&& other) noexcept { *this = std::move(other); }

Process& Process::operator=(Process&& other) noexcept {
  if (this == &other) return *this;
  if (pid_ > 0 && running()) (void)Kill();
  CloseFds();
  pid_ = std::exchange(other.pid_, -1);
  pidfd_ = std::exchange(other.pidfd_, -1);
  stdout_fd_ = std::exchange(other.stdout_fd_, -1);
  stderr_fd_ = std::exchange(other.stderr_fd_, -1);
  exit_code_ = std::exchange(other.exit_code_, std::nullopt);
  command_ = std::move(other.command_);
  output_ = std::move(other.output_);
  error_output_ = std::move(other.error_output_);
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && running()) (void)Kill();
  CloseFds();
}

void Process::CloseFds() {
  CloseFd(pidfd_);
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
}

bool Process::TryReap() {
  if (exit_code_) return true;
  int wait_status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &wait_status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_code_ = ExitCodeOf(wait_status);
    CloseFd(pidfd_);
  } else if (r < 0) {
    // Someone else reaped it (a SIGCHLD handler set to SIG_IGN, say); the
    // status is lost.
    exit_code_ = -1;
    CloseFd(pidfd_);
  }
  return exit_code_.has_value();
}

bool Process::PumpOutput(int block_ms) {
  pollfd fds[3];
  nfds_t n = 0;
  if (stdout_fd_ >= 0) fds[n++] = {stdout_fd_, POLLIN, 0};
  if (stderr_fd_ >= 0) fds[n++] = {stderr_fd_, POLLIN, 0};
  if (pidfd_ >= 0 && !exit_code_) fds[n++] = {pidfd_, POLLIN, 0};
  // Without a pidfd nothing wakes us when the child exits: poll in slices.
  if (pidfd_ < 0 && !exit_code_) block_ms = std::min(block_ms, 10);
  if (n == 0) {
    if (block_ms > 0) usleep(static_cast<useconds_t>(block_ms) * 1000);
    return false;
  }
  if (poll(fds, n, block_ms) <= 0) return false;
  bool progress = false;
  for (nfds_t i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    if (fds[i].fd == stdout_fd_) {
      progress = true;
      if (!ReadInto(stdout_fd_, output_)) CloseFd(stdout_fd_);
    } else if (fds[i].fd == stderr_fd_) {
      progress = true;
      if (!ReadInto(stderr_fd_, error_output_)) CloseFd(stderr_fd_);
    }
  }
  return progress;
}

Result<int> Process::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return Status::InvalidArgument("Wait() on a moved-from Process");
  const auto deadline = Clock::now() + timeout;
  std::optional<Clock::time_point> drain_until;
  while (true) {
    if (TryReap() && !drain_until) drain_until = std::min(deadline, Clock::now() + kDrainAfterExit);
    bool pipes_open = stdout_fd_ >= 0 || stderr_fd_ >= 0;
    const auto now = Clock::now();
    if (exit_code_ && (!pipes_open || now >= *drain_until)) {
      // Whatever is already in the pipes belongs to the result.
      while ((stdout_fd_ >= 0 || stderr_fd_ >= 0) && PumpOutput(0)) {
      }
      CloseFd(stdout_fd_);
      CloseFd(stderr_fd_);
      return *exit_code_;
    }
    const auto until = drain_until ? *drain_until : deadline;
    if (now >= until) {
      return Status::Timeout("`{}` (pid {}) still running after {} ms", command_, pid_,
                             timeout.count());
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
    PumpOutput(static_cast<int>(std::clamp<decltype(left)>(left, 1, 1000)));
  }
}

Status Process::Signal(int sig) {
  if (pid_ <= 0) return Status::InvalidArgument("Signal() on a moved-from Process");
  // After the child is reaped its pid may belong to someone else.
  if (TryReap()) return Status::NotFound("`{}` (pid {}) has already exited", command_, pid_);
  if (kill(-pid_, sig) != 0)
    return Status::FromErrno(fmt::format("kill(-{}, {})", pid_, sig), errno);
  return Status::OK();
}

Result<int> Process::Kill() {
  if (pid_ <= 0) return Status::InvalidArgument("Kill() on a moved-from Process");
  if (!TryReap()) {
    kill(-pid_, SIGKILL);
    int wait_status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &wait_status, 0);
    } while (r < 0 && errno == EINTR);
    exit_code_ = r == pid_ ? ExitCodeOf(wait_status) : -1;
    CloseFd(pidfd_);
  }
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
  return *exit_code_;
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, const ProcessOptions& options) {
  LTXBUS_ASSIGN_OR_RETURN(Process p, Process::Spawn(argv, options));
  Result<int> code = p.Wait(timeout);
  if (!code.ok()) {
    (void)p.Kill();
    std::string printed = p.output() + p.error_output();
    if (printed.size() > 2000) printed = "..." + printed.substr(printed.size() - 2000);
    return Status::Timeout("`{}` did not finish within {} ms and was killed; it printed: {}",
                           CommandLine(argv), timeout.count(), printed);
  }
  return CommandResult{*code, p.output(), p.error_output()};
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout) {
  ProcessOptions options;
  options.stdout_mode = Stream::kCapture;
  options.stderr_mode = Stream::kCapture;
  return RunCommand(argv, timeout, options);
}

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& arg : argv) {
    if (!line.empty()) line += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`") == std::string::npos;
    if (plain) {
      line += arg;
      continue;
    }
    line += '\'';
    for (char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

Result<int> Process::Stop(std::chrono::milliseconds grace) {
  Status s = Signal(SIGTERM);
  if (s.code() == Status::Code::kNotFound) return Wait(std::chrono::milliseconds(0));
  LTXBUS_RETURN_IF_ERROR(s);
  Result<int> code = Wait(grace);
  if (code.ok() || code.status().code() != Status::Code::kTimeout) return code;
  return Kill();
}

}  // namespace ltxbus
