#include "base/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/temp_dir.h"

namespace ltxbus {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ProcessOptions Capture() {
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  o.stderr_mode = Stream::kCapture;
  return o;
}

// A zombie counts as gone: it no longer runs and holds nothing but its pid.
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

bool WaitGone(pid_t pid, seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

TEST(ProcessTest, RunCommandCapturesBothStreamsAndTheExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->output, "out\n");
  EXPECT_EQ(r->error_output, "err\n");
}

TEST(ProcessTest, MergeStderrInterleavesIntoOutput) {
  ProcessOptions o = Capture();
  o.merge_stderr = true;
  auto r = RunCommand({"sh", "-c", "echo a; echo b >&2; echo c"}, seconds(10), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "a\nb\nc\n");
  EXPECT_EQ(r->error_output, "");
}

TEST(ProcessTest, DiscardedOutputIsNotCaptured) {
  ProcessOptions o;
  o.stdout_mode = Stream::kDiscard;
  o.stderr_mode = Stream::kDiscard;
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2"}, seconds(10), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "");
}

TEST(ProcessTest, EnvironmentIsAddedToAndOverridesTheParents) {
  ProcessOptions o = Capture();
  o.env = {{"LTXBUS_PROCESS_TEST", "a b=c"}, {"HOME", "/nowhere"}};
  auto r = RunCommand({"sh", "-c",
                       "printf '%s|%s|%s' \"$LTXBUS_PROCESS_TEST\" \"$HOME\" "
                       "\"${PATH:+path}\""},
                      seconds(10), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "a b=c|/nowhere|path");
}

TEST(ProcessTest, WorkingDirectory) {
  testing::TempDir dir;
  ProcessOptions o = Capture();
  o.working_dir = dir.path();
  auto r = RunCommand({"pwd", "-P"}, seconds(10), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  char real[PATH_MAX];
  ASSERT_NE(realpath(dir.path().c_str(), real), nullptr);
  EXPECT_EQ(r->output, std::string(real) + "\n");
}

TEST(ProcessTest, StdinIsEmptyUnlessInherited) {
  auto r = RunCommand({"cat"}, seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "");
}

TEST(ProcessTest, MissingProgramIsNotFound) {
  auto r = RunCommand({"ltxbus-no-such-program-xyz"}, seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("ltxbus-no-such-program-xyz"), std::string::npos);
  EXPECT_EQ(RunCommand({}, seconds(1)).status().code(), Status::Code::kInvalidArgument);
}

TEST(ProcessTest, LargeOutputDoesNotDeadlock) {
  // Several times a pipe buffer: the child blocks unless we read while waiting.
  auto r = RunCommand({"head", "-c", "3000000", "/dev/zero"}, seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output.size(), 3000000u);
}

TEST(ProcessTest, WaitTimesOutThenSignalEndsTheChild) {
  auto p = Process::Spawn({"sleep", "30"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto start = std::chrono::steady_clock::now();
  auto w = p->Wait(milliseconds(200));
  EXPECT_EQ(w.status().code(), Status::Code::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(190));
  EXPECT_TRUE(p->running());
  ASSERT_TRUE(p->Signal(SIGTERM).ok());
  auto code = p->Wait(seconds(10));
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 128 + SIGTERM);
  EXPECT_FALSE(p->running());
  EXPECT_EQ(*p->Wait(milliseconds(0)), 128 + SIGTERM);  // repeatable
  EXPECT_EQ(p->Signal(SIGTERM).code(), Status::Code::kNotFound);
}

TEST(ProcessTest, RunCommandTimeoutKillsAndQuotesOutput) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({"sh", "-c", "echo started; exec sleep 30"}, milliseconds(300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  EXPECT_NE(r.status().message().find("started"), std::string::npos) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

// Reads the grandchild's pid that `sh -c 'sleep 30 & echo $!; wait'` prints.
pid_t ReadBackgroundPid(Process& p) {
  for (int i = 0; i < 500 && p.output().find('\n') == std::string::npos; ++i) {
    (void)p.Wait(milliseconds(10));
  }
  return static_cast<pid_t>(std::stol(p.output()));
}

TEST(ProcessTest, DestructorKillsTheWholeProcessGroup) {
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  pid_t child = -1, grandchild = -1;
  {
    auto p = Process::Spawn({"sh", "-c", "sleep 30 & echo $!; wait"}, o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    child = p->pid();
    grandchild = ReadBackgroundPid(*p);
    ASSERT_TRUE(Alive(grandchild));
    EXPECT_EQ(getpgid(grandchild), child);  // the group the destructor kills
  }
  EXPECT_FALSE(Alive(child));
  EXPECT_TRUE(WaitGone(grandchild, seconds(5)));
}

TEST(ProcessTest, MovedProcessIsOwnedByItsNewHolder) {
  auto p = Process::Spawn({"sh", "-c", "exit 7"});
  ASSERT_TRUE(p.ok());
  Process moved = std::move(*p);
  EXPECT_EQ(p->pid(), -1);
  EXPECT_EQ(p->Wait(seconds(1)).status().code(), Status::Code::kInvalidArgument);
  auto code = moved.Wait(seconds(10));
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 7);
}

TEST(ProcessTest, OutputHeldOpenByABackgroundChildDoesNotStallWait) {
  ProcessOptions o = Capture();
  auto p = Process::Spawn({"sh", "-c", "sleep 20 & echo done"}, o);
  ASSERT_TRUE(p.ok());
  auto start = std::chrono::steady_clock::now();
  auto code = p->Wait(seconds(15));
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(p->output(), "done\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  kill(-p->pid(), SIGKILL);  // the orphaned sleep is still in the group
}

TEST(ProcessTest, CommandLineQuotesWhatTheShellWouldSplit) {
  EXPECT_EQ(CommandLine({"a", "b c", "it's", ""}), "a 'b c' 'it'\\''s' ''");
}

// Stop(): SIGTERM, a grace period, then SIGKILL.
using namespace std::chrono_literals;
using StopClock = std::chrono::steady_clock;

// Starts `argv` and waits until it prints "ready" (its signal handling is
// set by then).
Result<Process> StartReady(const std::vector<std::string>& argv) {
  ProcessOptions options;
  options.stdout_mode = Stream::kCapture;
  LTXBUS_ASSIGN_OR_RETURN(Process p, Process::Spawn(argv, options));
  const std::string command = CommandLine(argv);
  const auto deadline = StopClock::now() + 10s;
  while (p.output().find("ready") == std::string::npos) {
    if (StopClock::now() >= deadline) return Status::Timeout("`{}` never printed ready", command);
    Result<int> exited = p.Wait(10ms);
    if (exited.ok()) return Status::Internal("`{}` exited with {}", command, *exited);
  }
  return p;
}

TEST(ProcessStopTest, ReturnsTheExitCodeOfAChildThatHandlesSigterm) {
  // One process: a shell would fork its sleep, which a SIGTERM sent just
  // before the fork would miss.
  auto p = StartReady({"python3", "-c",
                       "import signal, sys, time\n"
                       "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
                       "print('ready', flush=True)\n"
                       "time.sleep(30)\n"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto code = p->Stop(10s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 0);
  EXPECT_FALSE(p->running());
}

TEST(ProcessStopTest, EscalatesToSigkillAfterTheGrace) {
  // An ignored SIGTERM survives exec.
  auto p = StartReady({"sh", "-c", "trap '' TERM; echo ready; exec sleep 30"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const auto start = StopClock::now();
  auto code = p->Stop(300ms);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 128 + SIGKILL);
  EXPECT_GE(StopClock::now() - start, 300ms);
  EXPECT_LT(StopClock::now() - start, 5s);
  EXPECT_FALSE(p->running());
}

TEST(ProcessStopTest, DoesNotSignalAChildThatHasExited) {
  auto p = Process::Spawn({"sh", "-c", "exit 3"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(*p->Wait(10s), 3);
  auto code = p->Stop(1s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 3);
}

}  // namespace
}  // namespace ltxbus
