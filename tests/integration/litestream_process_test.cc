// The subprocess helper the Litestream interop tests rely on to never hang
// and never leak a process: outputs and exit codes are reported, and every
// wait ends at its deadline.
#include "tests/integration/litestream_process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "tests/support/temp_dir.h"

namespace ltxbus::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

TEST(LitestreamHarnessTest, RunCommandReportsOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_THAT(r->output, HasSubstr("out\n"));
  EXPECT_THAT(r->output, HasSubstr("err\n"));
}

TEST(LitestreamHarnessTest, RunCommandKillsAtTheDeadline) {
  const auto start = Clock::now();
  auto r = RunCommand({"sh", "-c", "echo started; exec sleep 30"}, 300ms);
  EXPECT_LT(Clock::now() - start, 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  EXPECT_THAT(r.status().message(), HasSubstr("started"));
}

TEST(LitestreamHarnessTest, RunCommandReportsAMissingProgram) {
  auto r = RunCommand({"/nonexistent/ltxbus-no-such-program"}, 10s);
  // posix_spawn reports exec failure either as an error or as exit code 127.
  EXPECT_TRUE(!r.ok() || r->exit_code == 127);
}

TEST(LitestreamHarnessTest, StopEscalatesToSigkill) {
  TempDir dir;
  // Ignores SIGTERM (an ignored disposition survives exec).
  auto child = ChildProcess::Spawn({"sh", "-c", "trap '' TERM; exec sleep 30"}, dir.Join("log"));
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  std::this_thread::sleep_for(100ms);  // let the trap take effect
  const auto start = Clock::now();
  auto code = child->Stop(300ms);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, -1);
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_FALSE(child->Running());
}

TEST(LitestreamHarnessTest, WaitTimesOutAndDestructorKills) {
  TempDir dir;
  pid_t pid = -1;
  {
    auto child = ChildProcess::Spawn({"sleep", "30"}, dir.Join("log"));
    ASSERT_TRUE(child.ok()) << child.status().ToString();
    pid = child->pid();
    auto code = child->Wait(100ms);
    ASSERT_FALSE(code.ok());
    EXPECT_EQ(code.status().code(), Status::Code::kTimeout);
    EXPECT_TRUE(child->Running());
  }
  // Reaped by the destructor: the pid no longer names our child.
  EXPECT_EQ(::kill(pid, 0), -1);
}

}  // namespace
}  // namespace ltxbus::testing
