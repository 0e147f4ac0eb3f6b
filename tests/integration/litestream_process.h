// Minimal subprocess control for the Litestream interop tests: run a command
// to completion with a deadline, or keep a daemon running and stop it
// politely. Built on posix_spawn so nothing unsafe runs between fork and exec
// in the (multi-threaded) test process. Every child is reaped: a ChildProcess
// that goes out of scope while its process still runs sends SIGKILL.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace ltxbus::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] (looked up in PATH when it has no '/') with stdin from
// /dev/null. A child still running at `timeout` is killed and the call returns
// a Timeout status that includes its output so far.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout);

class ChildProcess {
 public:
  // Starts argv with stdout and stderr appended to `log_path` and stdin from
  // /dev/null.
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::string& log_path);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // False once the process has exited (and was reaped).
  bool Running();
  // The exit status once it exited: the code, or -1 after a signal.
  std::optional<int> exit_code() const { return exit_code_; }
  // Waits for the process to exit on its own.
  Result<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL if it has not exited after `grace`. Returns the exit
  // code, or -1 if a signal ended it.
  Result<int> Stop(std::chrono::milliseconds grace);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  void KillAndReap();

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Where a tool binary lives: $LTXBUS_TOOLS/bin, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/ltxbus/bin, as scripts/lib.sh decides.
std::string ToolPath(const std::string& name);
// The ltxbus CLI: $LTXBUS_BINARY (set by CTest), else beside this test binary.
std::string LtxbusBinary();

}  // namespace ltxbus::testing
