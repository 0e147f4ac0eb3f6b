#include "ltx/compactor.h"

#include <gtest/gtest.h>

#include <memory>

#include "ltx/decoder.h"
#include "tests/support/ltx_builder.h"

namespace ltxbus::ltx {
namespace {

using testing::Chain;
using testing::Pages;

Result<Header> CompactRange(const Chain& c, size_t from, size_t to, std::string* out,
                            CompactOptions options = {}) {
  std::vector<std::unique_ptr<SpanSource>> srcs;
  std::vector<SequentialFile*> inputs;
  for (size_t i = from; i <= to; i++) {
    srcs.push_back(std::make_unique<SpanSource>(AsBytes(c.files[i])));
    inputs.push_back(srcs.back().get());
  }
  StringSink sink;
  auto h = Compact(inputs, &sink, options);
  *out = sink.contents();
  return h;
}

Pages DecodeAll(const std::string& f, FileSummary* summary = nullptr) {
  Pages got;
  SpanSource src(AsBytes(f));
  auto s = DecodeFile(&src, [&](uint32_t pgno, std::span<const uint8_t> d) {
    got[pgno].assign(d.begin(), d.end());
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (summary != nullptr && s.ok()) *summary = *s;
  return got;
}

TEST(CompactorTest, SnapshotPlusIncrementalsGivesTheFinalDatabase) {
  for (bool checksums : {true, false}) {
    Chain c = testing::MakeChain(512, 30, 7, checksums);
    for (size_t to : {size_t{0}, size_t{1}, size_t{12}, size_t{29}}) {
      std::string out;
      auto h = CompactRange(c, 0, to, &out);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      FileSummary s;
      EXPECT_EQ(DecodeAll(out, &s), c.states[to]) << to;
      EXPECT_EQ(s.header.min_txid, 1u);
      EXPECT_EQ(s.header.max_txid, to + 1);
      EXPECT_EQ(s.header.HasChecksums(), checksums);
      EXPECT_EQ(s.trailer.post_apply_checksum, checksums ? testing::ChecksumOf(c.states[to]) : 0);
    }
  }
}

TEST(CompactorTest, MidRangeMergeNewestWinsAndDropsPagesAboveCommit) {
  Chain c = testing::MakeChain(1024, 40, 11, true, PageEncoding::kLZ4Block);
  std::string mid;
  auto h = CompactRange(c, 5, 30, &mid);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->min_txid, 6u);
  EXPECT_EQ(h->max_txid, 31u);
  EXPECT_EQ(h->commit, c.states[30].rbegin()->first);
  // Snapshot at 5, then the merged file, reproduces state 30.
  Pages db = c.states[4];
  for (auto& [p, d] : DecodeAll(mid)) db[p] = d;
  while (db.rbegin()->first > h->commit) db.erase(std::prev(db.end()));
  EXPECT_EQ(db, c.states[30]);
  // Compacting compacted output composes.
  Chain tail = c;
  std::string head;
  ASSERT_TRUE(CompactRange(c, 0, 4, &head).ok());
  tail.files = {head, mid};
  std::string all;
  ASSERT_TRUE(CompactRange(tail, 0, 1, &all).ok());
  EXPECT_EQ(DecodeAll(all), c.states[30]);
}

TEST(CompactorTest, StripsChecksumsOnRequest) {
  Chain c = testing::MakeChain(512, 5, 3, true);
  std::string out;
  CompactOptions o;
  o.checksums = CompactOptions::Checksums::kOff;
  ASSERT_TRUE(CompactRange(c, 0, 4, &out, o).ok());
  FileSummary s;
  EXPECT_EQ(DecodeAll(out, &s), c.states[4]);
  EXPECT_FALSE(s.header.HasChecksums());
  EXPECT_EQ(s.trailer.post_apply_checksum, 0u);
}

TEST(CompactorTest, RejectsGapsAndBrokenChains) {
  Chain c = testing::MakeChain(512, 6, 5, true);
  Chain gap = c;
  gap.files.erase(gap.files.begin() + 3);
  std::string out;
  auto h = CompactRange(gap, 0, 4, &out);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("TXID gap"), std::string::npos) << h.status().message();
  // A file from another history: contiguous TXIDs, wrong pre-apply checksum.
  Chain other = testing::MakeChain(512, 6, 99, true);
  Chain mixed = c;
  mixed.files[3] = other.files[3];
  h = CompactRange(mixed, 0, 5, &out);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("checksum chain broken"), std::string::npos)
      << h.status().message();
}

}  // namespace
}  // namespace ltxbus::ltx
