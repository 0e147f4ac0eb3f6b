#include "ltx/encoder.h"

#include <gtest/gtest.h>

#include "base/endian.h"
#include "ltx/decoder.h"
#include "tests/support/ltx_builder.h"

namespace ltxbus::ltx {
namespace {

using testing::EncodeLtx;
using testing::FilledPage;
using testing::MakePage;
using testing::Pages;

Header SmallestHeader() {
  Header h;
  h.page_size = 512;
  h.commit = 1;
  h.min_txid = h.max_txid = 1;
  h.timestamp_ms = 1000;
  return h;
}

// docs/ltx-format.md §9.2: the smallest Litestream-style file, byte for byte.
TEST(EncoderTest, WorkedExampleBlockEncoding) {
  std::string f =
      EncodeLtx(SmallestHeader(), {{1, FilledPage(512, '1')}}, 0, PageEncoding::kLZ4Block);
  ASSERT_EQ(f.size(), 156u);
  const auto* b = reinterpret_cast<const uint8_t*>(f.data());
  const uint8_t block[] = {0x1f, 0x31, 0x01, 0x00, 0xff, 0xe8, 0x50, 0x31, 0x31, 0x31, 0x31, 0x31};
  EXPECT_EQ(LoadBE16(b + 0x68), 1);  // page flag: size field follows
  EXPECT_EQ(LoadBE32(b + 0x6a), 12u);
  EXPECT_EQ(0, std::memcmp(b + 0x6e, block, sizeof block));
  const uint8_t index[] = {0x01, 0x64, 0x16, 0x00};
  EXPECT_EQ(0, std::memcmp(b + 0x80, index, sizeof index));
  EXPECT_EQ(LoadBE64(b + 0x84), 4u);
  EXPECT_EQ(LoadBE64(b + 0x94), 0xf10ef668184cb537ull);

  Header tracked = SmallestHeader();
  tracked.flags = 0;
  std::string g = EncodeLtx(tracked, {{1, FilledPage(512, '1')}}, 0xeb1a999231044dddull,
                            PageEncoding::kLZ4Block);
  EXPECT_EQ(LoadBE64(reinterpret_cast<const uint8_t*>(g.data()) + 0x94), 0xbc8648327f8390c6ull);
}

// docs/ltx-format.md §9.3: the same page as a legacy LZ4 frame.
TEST(EncoderTest, WorkedExampleFrameEncoding) {
  std::string f =
      EncodeLtx(SmallestHeader(), {{1, FilledPage(512, '1')}}, 0, PageEncoding::kLZ4Frame);
  ASSERT_EQ(f.size(), 171u);
  const auto* b = reinterpret_cast<const uint8_t*>(f.data());
  EXPECT_EQ(LoadBE16(b + 0x68), 0);
  const uint8_t frame_header[] = {0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7};
  EXPECT_EQ(0, std::memcmp(b + 0x6a, frame_header, sizeof frame_header));
  EXPECT_EQ(LoadBE64(b + 171 - 8), 0xf6ca51273e539784ull);
}

TEST(EncoderTest, RoundTripsBothEncodings) {
  for (PageEncoding e : {PageEncoding::kLZ4Frame, PageEncoding::kLZ4Block}) {
    for (uint32_t ps : {512u, 4096u, 65536u}) {
      Pages pages;
      for (uint32_t p = 1; p <= 5; p++) pages[p] = MakePage(ps, p);
      pages[6] = FilledPage(ps, 0);
      Header h = SmallestHeader();
      h.flags = 0;
      h.page_size = ps;
      h.commit = 6;
      std::string f = EncodeLtx(h, pages, testing::ChecksumOf(pages), e);
      SpanSource src(AsBytes(f));
      Pages got;
      auto summary = DecodeFile(&src, [&](uint32_t pgno, std::span<const uint8_t> d) {
        got[pgno].assign(d.begin(), d.end());
        return Status::OK();
      });
      ASSERT_TRUE(summary.ok()) << summary.status().ToString();
      EXPECT_EQ(got, pages);
      EXPECT_EQ(summary->header, h);
      EXPECT_EQ(summary->size, f.size());
    }
  }
}

TEST(EncoderTest, IndexSpillsToDiskWithoutChangingTheFile) {
  Pages pages;
  Header h = SmallestHeader();
  h.commit = 3000;
  for (uint32_t p = 1; p <= h.commit; p++) pages[p] = MakePage(512, p);
  StringSink a, b;
  for (auto* sink : {&a, &b}) {
    Encoder enc(sink, {.encoding = PageEncoding::kLZ4Block,
                       .index_memory_limit = sink == &a ? size_t{1} << 20 : size_t{64}});
    ASSERT_TRUE(enc.EncodeHeader(h).ok());
    for (const auto& [p, d] : pages) ASSERT_TRUE(enc.EncodePage(p, d).ok());
    ASSERT_TRUE(enc.Finish(0).ok());
  }
  EXPECT_EQ(a.contents(), b.contents());
}

TEST(EncoderTest, RefusesInvalidFiles) {
  auto page = FilledPage(512, 7);
  struct Case {
    Header header;
    std::vector<uint32_t> pgnos;
    Checksum post;
    const char* want;
  };
  Header incr = SmallestHeader();
  incr.min_txid = incr.max_txid = 2;
  incr.commit = 4;
  Header snap = SmallestHeader();
  snap.commit = 3;
  Header big = incr;
  big.commit = LockPgno(512) + 1;
  std::vector<Case> cases = {
      {incr, {5}, 0, "beyond commit"},
      {incr, {3, 2}, 0, "out of order"},
      {incr, {2, 2}, 0, "out of order"},
      {snap, {1, 3}, 0, "out of sequence"},
      {snap, {1, 2}, 0, "snapshot ends at page 2"},
      {big, {LockPgno(512)}, 0, "lock page"},
      {incr, {1}, kChecksumFlag | 1, "NoChecksum is set"},
  };
  for (const auto& c : cases) {
    StringSink sink;
    Encoder enc(&sink);
    Status s = enc.EncodeHeader(c.header);
    for (uint32_t p : c.pgnos) {
      if (s.ok()) s = enc.EncodePage(p, page);
    }
    if (s.ok()) s = enc.Finish(c.post);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
  StringSink sink;
  Encoder enc(&sink);
  ASSERT_TRUE(enc.EncodeHeader(incr).ok());
  EXPECT_FALSE(enc.EncodePage(1, FilledPage(100, 0)).ok());
}

}  // namespace
}  // namespace ltxbus::ltx
