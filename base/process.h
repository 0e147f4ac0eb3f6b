// Child processes: spawn a command, optionally capture what it prints, wait
// for it with a deadline, and never leak it.
//
// Each child runs in its own process group, so Signal() and the destructor
// reach everything it started (a shell script's children included) and a
// Ctrl-C meant for ltxbus does not hit it. A Process that is destroyed while
// its child still runs SIGKILLs the group and reaps the child.
//
//   ProcessOptions options;
//   options.stdout_mode = Stream::kCapture;
//   LTXBUS_ASSIGN_OR_RETURN(Process p, Process::Spawn({"sh", "-c", "echo hi"}, options));
//   LTXBUS_ASSIGN_OR_RETURN(int code, p.Wait(std::chrono::seconds(5)));
//   // p.output() == "hi\n"
//
// A Process is not thread-safe; use it from one thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace ltxbus {

// Where one of the child's output streams goes.
enum class Stream {
  kInherit,  // the parent's stream
  kCapture,  // a string in the Process (output() / error_output())
  kDiscard,  // /dev/null
};

struct ProcessOptions {
  // Added to the parent's environment; an entry replaces a variable of the
  // same name.
  std::vector<std::pair<std::string, std::string>> env;
  // The child's working directory; empty means the parent's.
  std::string working_dir;
  Stream stdout_mode = Stream::kInherit;
  Stream stderr_mode = Stream::kInherit;
  // Sends stderr wherever stdout goes (like 2>&1); stderr_mode is ignored.
  bool merge_stderr = false;
  // Otherwise stdin is /dev/null, so a child never steals the terminal.
  bool inherit_stdin = false;
};

class Process {
 public:
  // Starts argv[0] (searched on PATH) with arguments argv[1..]. Fails with
  // NotFound if the program does not exist or cannot be executed.
  static Result<Process> Spawn(const std::vector<std::string>& argv,
                               const ProcessOptions& options = {});

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  // True until Wait() has seen the child exit.
  bool running() const { return !exit_code_.has_value(); }

  // Waits up to `timeout` for the child to exit and returns its exit code, or
  // 128 + the signal number if a signal killed it (the shell's convention).
  // Captured output is collected meanwhile. Fails with Timeout, leaving the
  // child running, if it is still alive at the deadline. Once the child has
  // exited, output still held open by its own children is read for at most
  // two more seconds, so a leaked daemon cannot stall the caller.
  Result<int> Wait(std::chrono::milliseconds timeout);

  // Sends `sig` to the child's whole process group.
  Status Signal(int sig);

  // Kills the process group with SIGKILL and reaps the child; returns the
  // exit code as Wait() does. A child that already exited is not signalled.
  Result<int> Kill();

  // Asks the child to stop (SIGTERM to its group), waits up to `grace`, then
  // kills it; returns the exit code as Wait() does. A child that already
  // exited is not signalled.
  Result<int> Stop(std::chrono::milliseconds grace);

  // What the child printed, for streams in kCapture mode (so far, before Wait
  // returns). With merge_stderr, both streams are in output().
  const std::string& output() const { return output_; }
  const std::string& error_output() const { return error_output_; }

 private:
  Process() = default;
  // Reads whatever the capture pipes hold, waiting up to `block_ms` for
  // data or the child's exit; true if it read data or saw an end of file.
  bool PumpOutput(int block_ms);
  void CloseFds();
  bool TryReap();

  pid_t pid_ = -1;
  std::string command_;  // for messages
  int pidfd_ = -1;       // becomes readable when the child exits; -1 if unsupported
  int stdout_fd_ = -1;   // read ends of the capture pipes, -1 when closed
  int stderr_fd_ = -1;
  std::optional<int> exit_code_;
  std::string output_;
  std::string error_output_;
};

struct CommandResult {
  int exit_code = 0;
  std::string output;        // stdout (and stderr, with merge_stderr)
  std::string error_output;  // stderr
};

// Runs a command to completion. On timeout the process group is killed and
// the Timeout status quotes the end of what the command printed.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, const ProcessOptions& options);
// The same, capturing stdout and stderr separately.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout);

// argv as one line for messages: words with spaces or quotes get quoted.
std::string CommandLine(const std::vector<std::string>& argv);

}  // namespace ltxbus
