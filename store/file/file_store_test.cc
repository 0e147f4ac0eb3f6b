// The local-directory store: atomic writes, conditions under concurrency,
// metadata and the mtime Litestream reads, listing, and failure cleanup.
#include "store/file/file_store.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "store/time_format.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::store::file {
namespace {

using ::testing::HasSubstr;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Open("file://" + dir_.path() + "/archive");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  std::string Path(const std::string& key) const { return dir_.path() + "/archive/" + key; }

  testing::TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(FileStoreTest, RoundTripsObjectsOfAssortedSizes) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, (size_t{1} << 20) + 3}) {
    const std::string key = fmt::format("ltx/0/{:016x}.ltx", size);
    const std::string data = RandomBytes(size, static_cast<uint32_t>(size));
    auto put = store_->PutBytes(key, data);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_EQ(put->size, size);
    auto got = store_->GetBytes(key);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, data);
    auto st = store_->Stat(key);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->size, size);
    EXPECT_EQ(st->etag, put->etag);
  }
}

TEST_F(FileStoreTest, RangedReadsAreClippedAndChecked) {
  const std::string data = RandomBytes(10000, 1);
  ASSERT_TRUE(store_->PutBytes("r", data).ok());
  auto get = [&](uint64_t off, std::optional<uint64_t> len) {
    GetOptions o;
    o.offset = off;
    o.length = len;
    return store_->GetBytes("r", o);
  };
  EXPECT_EQ(*get(0, 10), data.substr(0, 10));
  EXPECT_EQ(*get(9990, 100), data.substr(9990));
  EXPECT_EQ(*get(1234, std::nullopt), data.substr(1234));
  EXPECT_EQ(*get(10000, std::nullopt), "");
  EXPECT_EQ(*get(5, 0), "");
  auto beyond = get(10001, std::nullopt);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), Status::Code::kInvalidArgument);
  auto missing = store_->GetBytes("nope");
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  EXPECT_TRUE(store_->Stat("nope").status().IsNotFound());
}

TEST_F(FileStoreTest, MetadataRoundTripsAndTheTimestampIsTheMtime) {
  PutOptions o;
  o.metadata = {{"litestream-timestamp", "2026-08-01T12:34:56.789Z"}, {"ltxbus-level", "3"}};
  auto put = store_->PutBytes("ltx/3/0000000000000001-0000000000000009.ltx", "x", o);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto st = store_->Stat("ltx/3/0000000000000001-0000000000000009.ltx");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->metadata, o.metadata);
  EXPECT_EQ(st->last_modified_ms, *ParseTimestamp("2026-08-01T12:34:56.789Z"));
  // Litestream's file backend reads the mtime of exactly this path.
  struct stat raw {};
  ASSERT_EQ(::stat(Path("ltx/3/0000000000000001-0000000000000009.ltx").c_str(), &raw), 0);
  EXPECT_EQ(raw.st_mtim.tv_sec, 1785587696);
  EXPECT_EQ(raw.st_mtim.tv_nsec, 789'000'000);
  // Listings leave metadata out.
  auto list = store_->List("ltx/");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].metadata.empty());
}

TEST_F(FileStoreTest, ConditionalWrites) {
  PutOptions create;
  create.if_none_match = true;
  auto first = store_->PutBytes("lease", "a", create);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = store_->PutBytes("lease", "b", create);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kConflict);
  EXPECT_EQ(*store_->GetBytes("lease"), "a");

  PutOptions cas;
  cas.if_match = first->etag;
  auto second = store_->PutBytes("lease", "c", cas);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(second->etag, first->etag);
  auto stale = store_->PutBytes("lease", "d", cas);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), Status::Code::kConflict);
  EXPECT_EQ(*store_->GetBytes("lease"), "c");

  PutOptions missing;
  missing.if_match = second->etag;
  auto none = store_->PutBytes("other", "e", missing);
  EXPECT_EQ(none.status().code(), Status::Code::kConflict);
  EXPECT_TRUE(store_->Stat("other").status().IsNotFound());

  GetOptions pinned;
  pinned.if_match = first->etag;
  EXPECT_EQ(store_->GetBytes("lease", pinned).status().code(), Status::Code::kConflict);
  // Unconditional writes always win.
  ASSERT_TRUE(store_->PutBytes("lease", "f").ok());
  EXPECT_EQ(*store_->GetBytes("lease"), "f");
}

TEST_F(FileStoreTest, CompareAndSwapLosesNoUpdateUnderContention) {
  ASSERT_TRUE(store_->PutBytes("counter", "0").ok());
  constexpr int kThreads = 4;
  constexpr int kIncrements = 25;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  std::vector<Status> failures(kThreads);
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int done = 0; done < kIncrements;) {
        StringSink sink;
        auto info = store_->Get("counter", sink);
        if (!info.ok()) {
          failures[static_cast<size_t>(t)] = info.status();
          return;
        }
        PutOptions o;
        o.if_match = info->etag;
        auto put = store_->PutBytes("counter", std::to_string(std::stoi(sink.contents()) + 1), o);
        if (put.ok()) {
          done++;
        } else if (put.status().code() == Status::Code::kConflict) {
          conflicts++;
        } else {
          failures[static_cast<size_t>(t)] = put.status();
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const Status& s : failures) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*store_->GetBytes("counter"), std::to_string(kThreads * kIncrements));
}

TEST_F(FileStoreTest, ListsSortedByKeyWithPrefixAndStartAfter) {
  for (const char* key : {"ltx/1/b", "ltx/0/b", "ltx/0/a", "ltx/10/a", "manifest", "ltxx"}) {
    ASSERT_TRUE(store_->PutBytes(key, key).ok());
  }
  // Leftovers of a crashed write and the lock file are not objects.
  std::filesystem::create_directories(Path("ltx/0"));
  { std::ofstream(Path("ltx/0/.b.0123.tmp")) << "partial"; }
  auto keys = [](const Result<std::vector<ObjectInfo>>& r) {
    std::vector<std::string> out;
    for (const auto& o : *r) out.push_back(o.key);
    return out;
  };
  auto all = store_->List("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_THAT(keys(all), ::testing::ElementsAre("ltx/0/a", "ltx/0/b", "ltx/1/b", "ltx/10/a", "ltxx",
                                                "manifest"));
  EXPECT_THAT(keys(store_->List("ltx/")),
              ::testing::ElementsAre("ltx/0/a", "ltx/0/b", "ltx/1/b", "ltx/10/a"));
  EXPECT_THAT(keys(store_->List("ltx/1")), ::testing::ElementsAre("ltx/1/b", "ltx/10/a"));
  ListOptions after;
  after.start_after = "ltx/0/a";
  EXPECT_THAT(keys(store_->List("ltx/0/", after)), ::testing::ElementsAre("ltx/0/b"));
  EXPECT_TRUE(store_->List("nothing/").ok());
  EXPECT_TRUE(store_->List("nothing/")->empty());
  EXPECT_EQ((*all)[0].size, 7u);
}

TEST_F(FileStoreTest, DeletesInBatchesAndIgnoresMissingKeys) {
  ASSERT_TRUE(store_->PutBytes("a/1", "x").ok());
  ASSERT_TRUE(store_->PutBytes("a/2", "y").ok());
  ASSERT_TRUE(store_->Delete({"a/1", "a/2", "a/3", "zz/9"}).ok());
  EXPECT_TRUE(store_->List("")->empty());
  EXPECT_FALSE(store_->Delete({"../escape"}).ok());
}

class FailingSource final : public SequentialFile {
 public:
  Result<size_t> Read(std::span<uint8_t> dst) override {
    if (calls_++ > 0) return Status::IOError("disk on fire");
    std::fill(dst.begin(), dst.end(), uint8_t{7});
    return dst.size();
  }

 private:
  int calls_ = 0;
};

TEST_F(FileStoreTest, AFailedWriteLeavesTheOldObjectAndNoTemporaryFile) {
  ASSERT_TRUE(store_->PutBytes("k", "old").ok());
  FailingSource src;
  auto put = store_->Put("k", src);
  ASSERT_FALSE(put.ok());
  EXPECT_THAT(put.status().message(), HasSubstr("disk on fire"));
  EXPECT_EQ(*store_->GetBytes("k"), "old");
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(Path(""))) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("k", ".ltxbus-lock"));
}

TEST_F(FileStoreTest, RefusesKeysThatEscapeTheRoot) {
  EXPECT_EQ(store_->PutBytes("../x", "y").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->PutBytes("/etc/x", "y").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->GetBytes("a/../../x").status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace ltxbus::store::file
