#include "consumer/follower_test_util.h"

#include <gtest/gtest.h>

#include "tests/support/sqlite_pages.h"

namespace ltxbus::testing {

SourceSim::SourceSim(std::string path, std::string name, uint32_t page_size)
    : path_(std::move(path)),
      name_(std::move(name)),
      db_(std::move(
          sqlite::Database::Open(path_, sqlite::Database::Mode::kReadWriteCreate).value())) {
  Status s = db_.Exec(fmt::format("PRAGMA page_size={}; PRAGMA journal_mode=WAL;", page_size));
  EXPECT_TRUE(s.ok()) << s.ToString();
}

void SourceSim::Exec(const std::string& sql) {
  Status s = db_.Exec(sql);
  ASSERT_TRUE(s.ok()) << sql << ": " << s.ToString();
}

TestFrame SourceSim::Next(bool snapshot) {
  auto now = ReadSqlitePages(path_);
  EXPECT_TRUE(now.ok()) << now.status().ToString();
  TestFrame f;
  snapshot = snapshot || txid_ == 0;
  Pages changed;
  for (const auto& [pgno, data] : *now) {
    auto it = last_.find(pgno);
    if (snapshot || it == last_.end() || it->second != data) changed[pgno] = data;
  }
  ltx::Header h;
  h.flags = 0;
  h.page_size = static_cast<uint32_t>(now->begin()->second.size());
  h.commit = now->rbegin()->first;
  h.min_txid = snapshot ? 1 : txid_ + 1;
  h.max_txid = txid_ + 1;
  h.timestamp_ms = 1700000000000 + static_cast<int64_t>(txid_);
  h.pre_apply_checksum = snapshot ? 0 : ChecksumOf(last_);
  const ltx::Checksum post = ChecksumOf(*now);
  f.bytes = EncodeLtx(h, changed, post);
  f.id = bus::FrameId{name_,     h.min_txid,     h.max_txid,          "",
                      "sim/1/1", h.timestamp_ms, h.pre_apply_checksum};
  f.trailer.frame_size = f.bytes.size();
  f.trailer.post_apply = post;
  f.state = *now;
  last_ = std::move(*now);
  txid_ = h.max_txid;
  return f;
}

void Publish(bus::Bus& bus, const TestFrame& f, size_t chunk_size) {
  bus::PublisherOptions o;
  o.producer = f.id.producer;
  o.chunk_size = chunk_size;
  auto pub = bus.NewPublisher(f.id.database, o);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  auto last = (*pub)->Open();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  auto w = (*pub)->BeginFrame(f.id);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Append(AsBytes(f.bytes)).ok());
  auto off = (*w)->Commit(f.trailer);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
}

void ExpectReplicaHolds(const std::string& replica, const Pages& want) {
  auto got = ReadSqlitePages(replica);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  PageCompareOptions o;
  o.mask_header_counters = true;
  EXPECT_EQ(DiffPages(want, *got, o), "");
}

}  // namespace ltxbus::testing
