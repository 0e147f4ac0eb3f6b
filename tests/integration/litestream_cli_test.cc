// StopProcess, the one piece of process control the interop tests add to
// base/process.h (whose own tests cover spawning, deadlines and reaping): it
// is what guarantees that a failing test leaves no Litestream behind.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/litestream_cli.h"

namespace ltxbus::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Starts `argv` and waits until it prints "ready" (its signal handling is
// set by then).
Result<Process> StartReady(const std::vector<std::string>& argv) {
  ProcessOptions options;
  options.stdout_mode = Stream::kCapture;
  LTXBUS_ASSIGN_OR_RETURN(Process p, Process::Spawn(argv, options));
  const std::string command = CommandLine(argv);
  const auto deadline = Clock::now() + 10s;
  while (p.output().find("ready") == std::string::npos) {
    if (Clock::now() >= deadline) return Status::Timeout("`{}` never printed ready", command);
    Result<int> exited = p.Wait(10ms);
    if (exited.ok()) return Status::Internal("`{}` exited with {}", command, *exited);
  }
  return p;
}

TEST(StopProcessTest, ReturnsTheExitCodeOfAChildThatHandlesSigterm) {
  // One process: a shell would fork its sleep, which a SIGTERM sent just
  // before the fork would miss.
  auto p = StartReady({"python3", "-c",
                       "import signal, sys, time\n"
                       "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
                       "print('ready', flush=True)\n"
                       "time.sleep(30)\n"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto code = StopProcess(*p, 10s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 0);
  EXPECT_FALSE(p->running());
}

TEST(StopProcessTest, EscalatesToSigkillAfterTheGrace) {
  // An ignored SIGTERM survives exec.
  auto p = StartReady({"sh", "-c", "trap '' TERM; echo ready; exec sleep 30"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const auto start = Clock::now();
  auto code = StopProcess(*p, 300ms);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 128 + SIGKILL);
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_FALSE(p->running());
}

TEST(StopProcessTest, DoesNotSignalAChildThatHasExited) {
  auto p = Process::Spawn({"sh", "-c", "exit 3"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(*p->Wait(10s), 3);
  auto code = StopProcess(*p, 1s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 3);
}

}  // namespace
}  // namespace ltxbus::testing
