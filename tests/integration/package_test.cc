// The CMake package: installs this build into a temporary prefix, then
// configures and builds a tiny out-of-tree project that does
// find_package(ltxbus) and compiles examples/cache_invalidator against
// ltxbus::core, and runs the result.
#include <gtest/gtest.h>

#include "base/env.h"
#include "base/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

#ifndef LTXBUS_TEST_BUILD_DIR
#error "tests/tail.cmake defines LTXBUS_TEST_BUILD_DIR and the flags of this build"
#endif

namespace ltxbus {
namespace {

using namespace std::chrono_literals;

CommandResult Exec(const std::vector<std::string>& argv) {
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  o.merge_stderr = true;
  auto r = RunCommand(argv, 600s, o);
  if (!r.ok()) {
    ADD_FAILURE() << CommandLine(argv) << ": " << r.status().ToString();
    return {-1, "", ""};
  }
  return *r;
}

TEST(Package, AnOutOfTreeProjectBuildsTheExampleWithFindPackage) {
  testing::TempDir tmp;
  const std::string prefix = tmp.Join("prefix");
  auto install = Exec({"cmake", "--install", LTXBUS_TEST_BUILD_DIR, "--prefix", prefix});
  ASSERT_EQ(install.exit_code, 0) << install.output;
  Env* env = Env::Default();
  EXPECT_TRUE(env->FileExists(prefix + "/include/ltxbus/consumer/transaction_stream.h"));
  EXPECT_FALSE(env->FileExists(prefix + "/include/ltxbus/consumer/stream_test_util.h"));

  const std::string src = tmp.Join("src");
  ASSERT_TRUE(env->CreateDirs(src).ok());
  const std::string project = fmt::format(
      "cmake_minimum_required(VERSION 3.25)\n"
      "project(uses_ltxbus CXX)\n"
      "set(CMAKE_CXX_STANDARD 20)\n"
      "find_package(ltxbus 0.1 REQUIRED)\n"
      "add_executable(cache_invalidator \"{}/examples/cache_invalidator/cache_invalidator.cc\")\n"
      "target_link_libraries(cache_invalidator PRIVATE ltxbus::core)\n",
      testing::SourceDir());
  ASSERT_TRUE(WriteFileAtomic(env, src + "/CMakeLists.txt", AsBytes(project)).ok());
  const std::string build = tmp.Join("build");
  // The flags of this build (a sanitizer build's libraries need the
  // sanitizer runtime in the program too).
  auto configure = Exec({"cmake", "-S", src, "-B", build, "-G", LTXBUS_TEST_GENERATOR,
                         "-DCMAKE_PREFIX_PATH=" + prefix,
                         std::string("-DCMAKE_CXX_FLAGS=") + LTXBUS_TEST_CXX_FLAGS,
                         std::string("-DCMAKE_EXE_LINKER_FLAGS=") + LTXBUS_TEST_LINKER_FLAGS});
  ASSERT_EQ(configure.exit_code, 0) << configure.output;
  auto compile = Exec({"cmake", "--build", build});
  ASSERT_EQ(compile.exit_code, 0) << compile.output;

  const std::string program = build + "/cache_invalidator";
  auto usage = Exec({program});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.output.find("usage: ltxbus_cache_invalidator URL DB"), std::string::npos)
      << usage.output;
  // Through the library: the bus client reports an unreachable server.
  auto unreachable = Exec(
      {program, "nats://127.0.0.1:1/LTX", "app.db", "--state-dir", tmp.Join("state"), "--to-end"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.output.find("ltxbus_cache_invalidator: unavailable"), std::string::npos)
      << unreachable.output;
}

}  // namespace
}  // namespace ltxbus
