// WalIndex: the header read from a live -shm agrees with the -wal file and
// with what SQLite itself reports, and the retry logic copes with headers
// caught mid-update.
#include "producer/wal_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/endian.h"
#include "sqlite/database.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::producer {
namespace {

using sqlite::Database;

// A -shm image whose header copy 1 is torn for the first `torn_attempts`
// reads (counted by reads of copy 0, one per attempt).
class ScriptedShm final : public RandomAccessFile {
 public:
  explicit ScriptedShm(std::vector<uint8_t> image, int torn_attempts = 0)
      : image_(std::move(image)), torn_attempts_(torn_attempts) {}
  Status ReadAt(uint64_t off, std::span<uint8_t> dst) const override {
    if (off + dst.size() > image_.size()) return Status::IOError("short read at {}", off);
    if (off == 0) ++*attempts_;
    std::memcpy(dst.data(), image_.data() + off, dst.size());
    if (off == kWalIndexHeaderSize && *attempts_ <= torn_attempts_) dst[16] ^= 1;  // mxFrame
    return Status::OK();
  }
  Result<uint64_t> Size() const override { return uint64_t{image_.size()}; }
  // Shared so the test can watch it after handing the file to a WalIndex.
  std::shared_ptr<int> attempts_ = std::make_shared<int>(0);

 private:
  std::vector<uint8_t> image_;
  int torn_attempts_;
};

struct Image {
  uint32_t version = kWalIndexVersion;
  bool init = true;
  uint16_t sz_page = 4096;
  uint32_t max_frame = 42;
  bool break_checksum = false;
  size_t file_size = 32768;
};

void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

std::vector<uint8_t> MakeShm(const Image& im) {
  std::array<uint8_t, kWalIndexHeaderSize> c{};
  Put32(&c[0], im.version);
  Put32(&c[8], 9);  // iChange
  c[12] = im.init ? 1 : 0;
  std::memcpy(&c[14], &im.sz_page, 2);
  Put32(&c[16], im.max_frame);
  Put32(&c[20], 17);  // nPage
  Put32(&c[24], 0xaaaa0001);
  Put32(&c[28], 0xbbbb0002);
  StoreBE32(&c[32], 0x01020304);  // the WAL header's salt bytes
  StoreBE32(&c[36], 0xa0b0c0d0);
  WalChecksum ck = WalIndexHeader::ComputeChecksum(c);
  if (im.break_checksum) ck.s0 ^= 1;
  Put32(&c[40], ck.s0);
  Put32(&c[44], ck.s1);
  std::vector<uint8_t> shm(std::max<size_t>(im.file_size, 136));
  std::copy(c.begin(), c.end(), shm.begin());
  std::copy(c.begin(), c.end(), shm.begin() + kWalIndexHeaderSize);
  Put32(&shm[96], 40);   // nBackfill
  Put32(&shm[104], 41);  // aReadMark[1]
  Put32(&shm[128], 40);  // nBackfillAttempted
  shm.resize(im.file_size);
  return shm;
}

constexpr WalIndexReadOptions kFast{10, std::chrono::microseconds(0)};

TEST(WalIndexDecodeTest, DecodesEveryField) {
  WalIndex idx(std::make_unique<ScriptedShm>(MakeShm({})));
  auto h = idx.Read(kFast);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->version, kWalIndexVersion);
  EXPECT_EQ(h->change, 9u);
  EXPECT_TRUE(h->is_init);
  EXPECT_FALSE(h->big_endian_checksums);
  EXPECT_EQ(h->page_size, 4096u);
  EXPECT_EQ(h->max_frame, 42u);
  EXPECT_EQ(h->db_pages, 17u);
  EXPECT_EQ(h->frame_checksum, (WalChecksum{0xaaaa0001, 0xbbbb0002}));
  EXPECT_EQ(h->salt1, 0x01020304u);
  EXPECT_EQ(h->salt2, 0xa0b0c0d0u);
  EXPECT_EQ(h->backfill, 40u);
  EXPECT_EQ(h->read_marks[1], 41u);
  EXPECT_EQ(h->backfill_attempted, 40u);

  Image big;
  big.sz_page = 1;  // how a u16 says 65536
  auto h64 = WalIndex(std::make_unique<ScriptedShm>(MakeShm(big))).Read(kFast);
  ASSERT_TRUE(h64.ok());
  EXPECT_EQ(h64->page_size, 65536u);
}

TEST(WalIndexDecodeTest, RetriesWhileTheCopiesDiffer) {
  auto file = std::make_unique<ScriptedShm>(MakeShm({}), 3);
  auto attempts = file->attempts_;
  WalIndex idx(std::move(file));
  auto h = idx.Read(kFast);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->max_frame, 42u);  // the untorn value
  EXPECT_EQ(*attempts, 4);
}

TEST(WalIndexDecodeTest, GivesUpAfterBoundedAttemptsSayingWhy) {
  struct Case {
    Image image;
    int torn;
    Status::Code code;
    const char* why;
  };
  Image uninit;
  uninit.init = false;
  Image bad_sum;
  bad_sum.break_checksum = true;
  Image short_file;
  short_file.file_size = 60;
  Image version;
  version.version = 3007001;
  const Case cases[] = {
      {Image{}, 1000, Status::Code::kUnavailable, "differ"},
      {uninit, 0, Status::Code::kUnavailable, "isInit"},
      {bad_sum, 0, Status::Code::kUnavailable, "checksum"},
      {short_file, 0, Status::Code::kUnavailable, "shorter"},
      {version, 0, Status::Code::kCorruption, "version"},
  };
  for (const Case& c : cases) {
    auto file = std::make_unique<ScriptedShm>(MakeShm(c.image), c.torn);
    auto attempts = file->attempts_;
    auto h = WalIndex(std::move(file)).Read(kFast);
    ASSERT_FALSE(h.ok()) << c.why;
    EXPECT_EQ(h.status().code(), c.code) << h.status().ToString();
    EXPECT_NE(h.status().message().find(c.why), std::string::npos) << h.status().ToString();
    // A version we do not know is final; everything else is retried.
    EXPECT_EQ(*attempts, c.code == Status::Code::kCorruption ? 1 : kFast.max_attempts) << c.why;
  }
}

class LiveShmTest : public ::testing::Test {
 protected:
  void Open(int page_size) {
    path_ = dir_.Join("live.db");
    auto db = Database::Open(path_, Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_.emplace(std::move(*db));
    Exec(
        fmt::format("PRAGMA page_size={}; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; "
                    "CREATE TABLE t(x)",
                    page_size));
    auto idx = WalIndex::Open(Env::Default(), path_ + "-shm");
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_.emplace(std::move(*idx));
  }
  void Exec(const std::string& sql) {
    Status s = db_->Exec(sql);
    ASSERT_TRUE(s.ok()) << sql << ": " << s.ToString();
  }
  WalIndexHeader Read() {
    auto h = index_->Read();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? *h : WalIndexHeader{};
  }
  // (busy, log frames, checkpointed frames) of a PASSIVE checkpoint.
  std::array<int64_t, 3> Passive() {
    std::array<int64_t, 3> r{-1, -1, -1};
    auto st = db_->Prepare("PRAGMA wal_checkpoint(PASSIVE)");
    EXPECT_TRUE(st.ok());
    auto row = st->Step();
    EXPECT_TRUE(row.ok() && *row);
    for (int i = 0; i < 3; ++i) r[static_cast<size_t>(i)] = st->ColumnInt64(i);
    return r;
  }
  // The WAL's header and its frame count, from the file.
  std::pair<WalHeader, uint32_t> WalFile(std::vector<uint8_t>* bytes) {
    auto s = ReadFileToString(Env::Default(), path_ + "-wal");
    EXPECT_TRUE(s.ok());
    bytes->assign(s->begin(), s->end());
    auto h = WalHeader::Decode(std::span<const uint8_t>(*bytes).first<kWalHeaderSize>());
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return {*h, static_cast<uint32_t>((bytes->size() - kWalHeaderSize) / h->FrameSize())};
  }

  testing::TempDir dir_;
  std::string path_;
  // Before db_, so it is destroyed after every connection (see wal_index.h).
  std::optional<WalIndex> index_;
  std::optional<Database> db_;
};

TEST_F(LiveShmTest, MatchesTheWalFileAndSqlite) {
  Open(4096);
  for (int i = 0; i < 10; ++i) Exec("INSERT INTO t VALUES(randomblob(1500))");
  const WalIndexHeader h = Read();
  std::vector<uint8_t> wal;
  auto [wh, frames] = WalFile(&wal);
  EXPECT_TRUE(h.is_init);
  EXPECT_EQ(h.version, kWalIndexVersion);
  EXPECT_EQ(h.page_size, 4096u);
  EXPECT_EQ(h.max_frame, frames);  // no checkpoint ran and nothing was rolled back
  EXPECT_EQ(h.salt1, wh.salt1);
  EXPECT_EQ(h.salt2, wh.salt2);
  EXPECT_EQ(h.big_endian_checksums, wh.big_endian_checksums());
  EXPECT_EQ(int64_t{h.db_pages}, *db_->QueryInt64("PRAGMA page_count"));
  auto last = WalFrameHeader::Decode(
      std::span<const uint8_t>(wal).subspan(wh.FrameOffset(frames)).first<kWalFrameHeaderSize>());
  EXPECT_EQ(h.frame_checksum, last.checksum);
  EXPECT_EQ(last.commit, h.db_pages);
  EXPECT_EQ(h.backfill, 0u);

  Exec("INSERT INTO t VALUES(1)");
  const WalIndexHeader h2 = Read();
  EXPECT_NE(h2.change, h.change);
  EXPECT_GT(h2.max_frame, h.max_frame);
}

TEST_F(LiveShmTest, BackfillFollowsPassiveCheckpointsAndStopsAtAPinnedReader) {
  Open(4096);
  for (int i = 0; i < 5; ++i) Exec("INSERT INTO t VALUES(randomblob(3000))");
  const uint32_t pinned = Read().max_frame;
  auto reader = Database::Open(path_, Database::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(reader->Exec("BEGIN; SELECT count(*) FROM t;").ok());
  for (int i = 0; i < 5; ++i) Exec("INSERT INTO t VALUES(randomblob(3000))");
  const uint32_t max_frame = Read().max_frame;
  ASSERT_GT(max_frame, pinned);

  auto [busy, log, done] = Passive();
  EXPECT_EQ(busy, 0);
  EXPECT_EQ(log, max_frame);
  EXPECT_EQ(done, pinned);  // the pin stops backfill at its read mark
  WalIndexHeader h = Read();
  EXPECT_EQ(h.backfill, pinned);
  EXPECT_NE(std::find(h.read_marks.begin(), h.read_marks.end(), pinned), h.read_marks.end());
  EXPECT_EQ(h.max_frame, max_frame);  // a checkpoint never moves mxFrame

  ASSERT_TRUE(reader->Exec("COMMIT").ok());
  auto again = Passive();
  EXPECT_EQ(again[2], max_frame);
  EXPECT_EQ(Read().backfill, max_frame);
}

TEST_F(LiveShmTest, RestartShowsTheNewSalts) {
  Open(4096);
  Exec("INSERT INTO t VALUES(1)");
  const WalIndexHeader before = Read();
  Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const WalIndexHeader truncated = Read();
  EXPECT_EQ(truncated.max_frame, 0u);
  EXPECT_EQ(truncated.backfill, 0u);
  Exec("INSERT INTO t VALUES(2)");
  const WalIndexHeader after = Read();
  std::vector<uint8_t> wal;
  auto [wh, frames] = WalFile(&wal);
  EXPECT_EQ(after.salt1, before.salt1 + 1);
  EXPECT_EQ(after.salt1, wh.salt1);
  EXPECT_EQ(after.salt2, wh.salt2);
  EXPECT_EQ(after.max_frame, frames);
}

TEST_F(LiveShmTest, LargestPageSizeIsDecoded) {
  Open(65536);
  Exec("INSERT INTO t VALUES(randomblob(100000))");
  const WalIndexHeader h = Read();
  std::vector<uint8_t> wal;
  auto [wh, frames] = WalFile(&wal);
  EXPECT_EQ(wh.page_size, 65536u);
  EXPECT_EQ(h.page_size, 65536u);
  EXPECT_EQ(h.max_frame, frames);
}

}  // namespace
}  // namespace ltxbus::producer
