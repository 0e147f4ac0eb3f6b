// The WAL header, frame header and checksum, checked against hand-computed
// values, against WALs written by the private SQLite, and against SQLite
// reading WALs we re-encoded.
#include "producer/wal_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <string>
#include <vector>

#include "base/endian.h"
#include "base/env.h"
#include "producer/wal_reader.h"
#include "sqlite/database.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::producer {
namespace {

std::span<const uint8_t> Bytes(const std::vector<uint8_t>& v) { return v; }

TEST(WalChecksumTest, FibonacciPairOverWordsInTheGivenOrder) {
  // Words (1, 2) little-endian: s0 = 0 + 1 + 0 = 1, s1 = 0 + 2 + 1 = 3.
  const std::vector<uint8_t> data = {1, 0, 0, 0, 2, 0, 0, 0};
  EXPECT_EQ(WalChecksumUpdate(false, Bytes(data), {}), (WalChecksum{1, 3}));
  // The same bytes as big-endian words are 0x01000000 and 0x02000000.
  EXPECT_EQ(WalChecksumUpdate(true, Bytes(data), {}), (WalChecksum{0x01000000, 0x03000000}));
  // The seed takes part: s0 = 10 + 1 + 20 = 31, s1 = 20 + 2 + 31 = 53.
  EXPECT_EQ(WalChecksumUpdate(false, Bytes(data), {10, 20}), (WalChecksum{31, 53}));
  // A second pair continues from the first: s0 = 1 + 3 + 3 = 7, s1 = 3 + 4 + 7 = 14.
  const std::vector<uint8_t> two = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0};
  EXPECT_EQ(WalChecksumUpdate(false, Bytes(two), {}), (WalChecksum{7, 14}));
  // Arithmetic is mod 2^32.
  const std::vector<uint8_t> big = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  EXPECT_EQ(WalChecksumUpdate(false, Bytes(big), {0, 1}), (WalChecksum{0, 1}));
  // Empty input leaves the seed.
  EXPECT_EQ(WalChecksumUpdate(false, {}, {5, 6}), (WalChecksum{5, 6}));
}

TEST(WalHeaderTest, EncodeDecodeRoundTripInBothByteOrders) {
  for (uint32_t magic : {kWalMagicLittleEndian, kWalMagicBigEndian}) {
    WalHeader h;
    h.magic = magic;
    h.page_size = 4096;
    h.checkpoint_seq = 7;
    h.salt1 = 0x12345678;
    h.salt2 = 0x9abcdef0;
    std::array<uint8_t, kWalHeaderSize> buf{};
    h.EncodeTo(buf);
    EXPECT_EQ(LoadBE32(&buf[0]), magic);
    EXPECT_EQ(LoadBE32(&buf[8]), 4096u);
    EXPECT_EQ(LoadBE32(&buf[16]), 0x12345678u);
    auto d = WalHeader::Decode(buf);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, h);
    EXPECT_EQ(d->big_endian_checksums(), magic == kWalMagicBigEndian);
    EXPECT_EQ(d->FrameOffset(1), 32u);
    EXPECT_EQ(d->FrameOffset(3), 32u + 2 * (24 + 4096));
  }
}

TEST(WalHeaderTest, EveryCorruptedByteIsRejectedWithTheFieldNamed) {
  WalHeader h;
  h.page_size = 1024;
  h.salt1 = 1;
  h.salt2 = 2;
  std::array<uint8_t, kWalHeaderSize> good{};
  h.EncodeTo(good);
  for (size_t i = 0; i < kWalHeaderSize; ++i) {
    auto bad = good;
    bad[i] ^= 0x10;
    auto d = WalHeader::Decode(bad);
    ASSERT_FALSE(d.ok()) << "flipped byte " << i;
    EXPECT_TRUE(d.status().IsCorruption());
    const std::string& m = d.status().message();
    if (i < 4) {
      EXPECT_NE(m.find("magic"), std::string::npos) << m;
    } else if (i < 8) {
      EXPECT_NE(m.find("version"), std::string::npos) << m;
    } else if (i < 12) {
      EXPECT_NE(m.find("page size"), std::string::npos) << m;
    } else {
      EXPECT_NE(m.find("checksum"), std::string::npos) << m;
    }
  }
  // A page size that is a power of two but out of range, with a valid checksum.
  h.page_size = 256;
  std::array<uint8_t, kWalHeaderSize> small{};
  h.EncodeTo(small);
  EXPECT_FALSE(WalHeader::Decode(small).ok());
  h.page_size = 65536;  // the largest page size is stored as is in the WAL
  std::array<uint8_t, kWalHeaderSize> largest{};
  h.EncodeTo(largest);
  EXPECT_TRUE(WalHeader::Decode(largest).ok());
}

TEST(WalFrameHeaderTest, EncodeDecodeRoundTrip) {
  WalFrameHeader f{5, 99, 0xdeadbeef, 0x01020304, {0xa, 0xb}};
  std::array<uint8_t, kWalFrameHeaderSize> buf{};
  f.EncodeTo(buf);
  EXPECT_EQ(LoadBE32(&buf[0]), 5u);
  EXPECT_EQ(LoadBE32(&buf[4]), 99u);
  EXPECT_EQ(LoadBE32(&buf[8]), 0xdeadbeefu);
  EXPECT_EQ(WalFrameHeader::Decode(buf), f);
  EXPECT_TRUE(f.is_commit());
  f.commit = 0;
  EXPECT_FALSE(f.is_commit());
}

// The decoder and checksum agree with SQLite byte for byte: the header of a
// real WAL validates, and recomputing the chain over every frame reproduces
// the checksums SQLite stored.
TEST(WalFormatTest, ReproducesTheChecksumsOfARealWal) {
  testing::TempDir dir;
  const std::string path = dir.Join("real.db");
  auto db = sqlite::Database::Open(path, sqlite::Database::Mode::kReadWriteCreate);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE(db->Exec("PRAGMA page_size=2048; PRAGMA journal_mode=WAL; "
                       "PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x);")
                  .ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES(randomblob(3000))").ok());
  }
  auto wal = ReadFileToString(Env::Default(), path + "-wal");
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  const auto bytes = AsBytes(*wal);
  ASSERT_GT(bytes.size(), kWalHeaderSize);
  auto h = WalHeader::Decode(bytes.first<kWalHeaderSize>());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->page_size, 2048u);
  EXPECT_EQ(h->version, kWalFormatVersion);
  // SQLite writes checksums in the host's order.
  EXPECT_EQ(h->big_endian_checksums(), std::endian::native == std::endian::big);

  const uint64_t frames = (bytes.size() - kWalHeaderSize) / h->FrameSize();
  ASSERT_GT(frames, 5u);
  WalChecksum chain = h->checksum;
  int commits = 0;
  for (uint32_t i = 1; i <= frames; ++i) {
    auto frame = bytes.subspan(h->FrameOffset(i), h->FrameSize());
    auto fh_bytes = frame.first<kWalFrameHeaderSize>();
    WalFrameHeader fh = WalFrameHeader::Decode(fh_bytes);
    EXPECT_EQ(fh.salt1, h->salt1);
    EXPECT_EQ(fh.salt2, h->salt2);
    chain = WalFrameChecksum(h->big_endian_checksums(), chain, fh_bytes,
                             frame.subspan(kWalFrameHeaderSize));
    ASSERT_EQ(chain, fh.checksum) << "frame " << i;
    commits += fh.is_commit() ? 1 : 0;
  }
  EXPECT_EQ(commits, 6);  // CREATE TABLE and five INSERTs
  // The chain is sensitive to every page byte.
  auto image = bytes.subspan(h->FrameOffset(1) + 24, h->page_size);
  std::vector<uint8_t> page(image.begin(), image.end());
  ASSERT_GT(page.size(), 100u);
  page[100] ^= 1;
  auto fh1 = bytes.subspan(h->FrameOffset(1)).first<kWalFrameHeaderSize>();
  EXPECT_NE(WalFrameChecksum(h->big_endian_checksums(), h->checksum, fh1, page),
            WalFrameHeader::Decode(fh1).checksum);
}

// Rewrites a WAL's header and frames with `magic`, recomputing every checksum.
std::vector<uint8_t> Reencode(std::span<const uint8_t> wal, uint32_t magic) {
  auto h = WalHeader::Decode(wal.first<kWalHeaderSize>());
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  WalHeader nh = *h;
  nh.magic = magic;
  std::vector<uint8_t> out(wal.begin(), wal.end());
  nh.EncodeTo(std::span<uint8_t>(out).first<kWalHeaderSize>());
  WalChecksum chain = nh.checksum;
  for (uint64_t off = kWalHeaderSize; off + nh.FrameSize() <= out.size(); off += nh.FrameSize()) {
    auto fh_bytes = std::span<uint8_t>(out).subspan(off).first<kWalFrameHeaderSize>();
    WalFrameHeader fh = WalFrameHeader::Decode(fh_bytes);
    chain = WalFrameChecksum(nh.big_endian_checksums(), chain, fh_bytes,
                             std::span<const uint8_t>(out).subspan(off + 24, nh.page_size));
    fh.checksum = chain;
    fh.EncodeTo(fh_bytes);
  }
  return out;
}

std::string DbPages(sqlite::Database& db) {
  std::string all;
  auto st = db.Prepare("SELECT data FROM sqlite_dbpage ORDER BY pgno");
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  while (st.ok()) {
    auto row = st->Step();
    if (!row.ok() || !*row) break;
    auto blob = st->ColumnBlob(0);
    all.append(blob.begin(), blob.end());
  }
  return all;
}

// SQLite only writes its host's checksum order but reads both. Re-encoding a
// real WAL in the host's order reproduces it byte for byte; re-encoded in the
// other order, SQLite recovers the same database from it, and WalReader reads
// the same transactions. So both orders are computed exactly as SQLite does.
TEST(WalFormatTest, BothChecksumByteOrdersAgreeWithSqlite) {
  testing::TempDir dir;
  const std::string path = dir.Join("orders.db");
  {
    auto db = sqlite::Database::Open(path, sqlite::Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(
        db->Exec("PRAGMA page_size=1024; PRAGMA journal_mode=WAL; CREATE TABLE t(x);").ok());
  }  // closing checkpoints: the database file holds everything so far
  auto base = ReadFileToString(Env::Default(), path);
  ASSERT_TRUE(base.ok());
  auto db = sqlite::Database::Open(path, sqlite::Database::Mode::kReadWrite);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("PRAGMA wal_autocheckpoint=0").ok());
  const char* txns[] = {
      "INSERT INTO t VALUES(randomblob(5000))", "INSERT INTO t VALUES(randomblob(100))",
      "UPDATE t SET x=randomblob(3000) WHERE rowid=2", "DELETE FROM t WHERE rowid=1"};
  for (const char* sql : txns) ASSERT_TRUE(db->Exec(sql).ok()) << sql;
  const std::string want = DbPages(*db);
  auto wal = ReadFileToString(Env::Default(), path + "-wal");
  ASSERT_TRUE(wal.ok());
  const auto original = AsBytes(*wal);

  const uint32_t native =
      std::endian::native == std::endian::big ? kWalMagicBigEndian : kWalMagicLittleEndian;
  std::vector<uint8_t> same = Reencode(original, native);
  EXPECT_TRUE(std::equal(same.begin(), same.end(), original.begin(), original.end()));

  std::vector<uint8_t> swapped = Reencode(original, native ^ 1u);
  ASSERT_NE(swapped, same);
  testing::TempDir other;
  const std::string copy = other.Join("copy.db");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), copy, AsBytes(*base)).ok());
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), copy + "-wal", swapped).ok());

  auto reader = WalReader::Open(Env::Default(), copy + "-wal");
  ASSERT_TRUE(reader.ok());
  auto start = reader->Start();
  ASSERT_TRUE(start.ok() && start->position);
  EXPECT_EQ(start->header.big_endian_checksums(), std::endian::native != std::endian::big);
  WalPosition pos = *start->position;
  size_t found = 0;
  for (;;) {
    auto r = reader->Next(pos, kNoMaxFrame);
    ASSERT_TRUE(r.ok());
    if (!r->txn) {
      EXPECT_EQ(r->stop.reason, WalStop::kEndOfFrames) << r->stop.detail;
      break;
    }
    pos = r->txn->end;
    ++found;
  }
  EXPECT_EQ(found, std::size(txns));

  auto recovered = sqlite::Database::Open(copy, sqlite::Database::Mode::kReadWrite);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(*recovered->QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(*recovered->QueryInt64("SELECT count(*) FROM t"), 1);
  EXPECT_TRUE(DbPages(*recovered) == want);
}

}  // namespace
}  // namespace ltxbus::producer
