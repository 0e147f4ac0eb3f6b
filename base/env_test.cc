#include "base/env.h"

#include <gtest/gtest.h>

#include "tests/support/fault_env.h"
#include "tests/support/temp_dir.h"

namespace ltxbus {
namespace {

TEST(EnvTest, WriteFileAtomicReplacesOrLeavesTheOldFile) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.Join("f");
  ASSERT_TRUE(WriteFileAtomic(env, path, AsBytes("one")).ok());
  EXPECT_EQ(*ReadFileToString(env, path), "one");
  ASSERT_TRUE(WriteFileAtomic(env, path, AsBytes("two")).ok());
  EXPECT_EQ(*ReadFileToString(env, path), "two");

  testing::FaultEnv faulty(env);
  faulty.FailWritesAfter(1);
  Status s = WriteFileAtomic(&faulty, path, AsBytes(std::string(300000, 'x')));
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(*ReadFileToString(env, path), "two");
  faulty.FailWritesAfter(-1);
  faulty.FailSyncs(true);
  EXPECT_FALSE(WriteFileAtomic(&faulty, path, AsBytes("three")).ok());
  EXPECT_EQ(*ReadFileToString(env, path), "two");
  faulty.FailSyncs(false);
  faulty.FailRenames(true);
  EXPECT_FALSE(WriteFileAtomic(&faulty, path, AsBytes("three")).ok());
  EXPECT_EQ(*ReadFileToString(env, path), "two");
}

TEST(EnvTest, ListAndSizes) {
  testing::TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(dir.Join("a/b")).ok());
  ASSERT_TRUE(WriteFileAtomic(env, dir.Join("a/b/x"), AsBytes("12345")).ok());
  EXPECT_EQ(*env->GetFileSize(dir.Join("a/b/x")), 5u);
  auto names = env->ListDir(dir.Join("a/b"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"x"});
  EXPECT_TRUE(env->GetFileSize(dir.Join("missing")).status().IsNotFound());
  ASSERT_TRUE(env->SetModTime(dir.Join("a/b/x"), 1700000000123).ok());
}

}  // namespace
}  // namespace ltxbus
