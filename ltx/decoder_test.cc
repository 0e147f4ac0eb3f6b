// Every class of bad input gets its own clear error, and valid files in
// either page encoding decode to exactly what was written.
#include "ltx/decoder.h"

#include <gtest/gtest.h>

#include "base/endian.h"
#include "ltx/compactor.h"
#include "tests/support/ltx_builder.h"

namespace ltxbus::ltx {
namespace {

using testing::EncodeLtx;
using testing::MakePage;
using testing::Pages;

Header Incremental(uint32_t commit) {
  Header h;
  h.page_size = 512;
  h.commit = commit;
  h.min_txid = h.max_txid = 2;
  h.timestamp_ms = 5000;
  return h;
}

std::string ValidFile(PageEncoding e = PageEncoding::kLZ4Block) {
  Pages pages;
  for (uint32_t p : {2u, 3u, 5u}) pages[p] = MakePage(512, p);
  return EncodeLtx(Incremental(6), pages, 0, e);
}

Status Decode(const std::string& f) {
  SpanSource src(AsBytes(f));
  return DecodeFile(&src).status();
}

void ExpectError(const std::string& f, const char* want) {
  Status s = Decode(f);
  EXPECT_FALSE(s.ok()) << "expected an error containing '" << want << "'";
  EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
}

uint8_t* At(std::string& f, size_t off) { return reinterpret_cast<uint8_t*>(f.data() + off); }

// Where the first page frame of a valid file ends (the next frame starts).
size_t FirstFrameEnd(const std::string& f) {
  SpanSource src(AsBytes(f));
  Decoder dec(&src);
  EXPECT_TRUE(dec.DecodeHeader().ok());
  std::vector<uint8_t> page(512);
  uint32_t pgno = 0;
  auto more = dec.NextPage(&pgno, page);
  EXPECT_TRUE(more.ok() && *more);
  return dec.last_frame_offset() + dec.last_frame_size();
}

TEST(DecoderTest, AcceptsValidFiles) {
  EXPECT_TRUE(Decode(ValidFile(PageEncoding::kLZ4Block)).ok());
  EXPECT_TRUE(Decode(ValidFile(PageEncoding::kLZ4Frame)).ok());
}

TEST(DecoderTest, TruncatedFile) {
  const std::string f = ValidFile();
  for (size_t cut : {size_t{0}, size_t{50}, size_t{100}, size_t{104}, size_t{120}, f.size() - 30,
                     f.size() - 9, f.size() - 1}) {
    ExpectError(f.substr(0, cut), "truncated file");
  }
}

TEST(DecoderTest, BitFlipInPageData) {
  for (PageEncoding e : {PageEncoding::kLZ4Block, PageEncoding::kLZ4Frame}) {
    std::string f = ValidFile(e);
    // Page 2's frame ends just before page 3's; its last bytes are LZ4
    // literals (block) or the frame's content checksum (frame).
    const size_t last_byte = FirstFrameEnd(f) - 1;
    *At(f, e == PageEncoding::kLZ4Block ? last_byte : last_byte - 12) ^= 0x01;
    Status s = Decode(f);
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(s.message().find("file checksum mismatch") != std::string::npos ||
                s.message().find("corrupt LZ4") != std::string::npos)
        << s.message();
  }
}

TEST(DecoderTest, BitFlipInHeader) {
  std::string f = ValidFile();
  *At(f, 33) ^= 0x10;  // timestamp: valid either way, so only the checksum catches it
  ExpectError(f, "file checksum mismatch");
  std::string g = ValidFile();
  *At(g, 85) ^= 0x01;  // reserved bytes are covered by the checksum too
  ExpectError(g, "file checksum mismatch");
}

TEST(DecoderTest, BitFlipInTrailer) {
  std::string f = ValidFile();
  *At(f, f.size() - 12) ^= 0x01;  // post-apply checksum of a NoChecksum file
  ExpectError(f, "post-apply checksum 0000000001000000 set although NoChecksum");
  std::string g = ValidFile();
  *At(g, g.size() - 3) ^= 0x01;  // the file checksum itself
  ExpectError(g, "file checksum mismatch");
}

TEST(DecoderTest, WrongMagic) {
  std::string f = ValidFile();
  f[3] = '2';
  ExpectError(f, "not an LTX file: bad magic");
}

TEST(DecoderTest, InvalidFlags) {
  std::string f = ValidFile();
  StoreBE32(At(f, 4), 0x3);
  ExpectError(f, "invalid header flags 0x00000003");
  std::string g = ValidFile();
  StoreBE16(At(g, 104), 0x0422);  // what a format 1/2 file looks like here
  ExpectError(g, "invalid page flags 0x0422");
}

TEST(DecoderTest, BadPageSize) {
  std::string f = ValidFile();
  StoreBE32(At(f, 8), 768);
  ExpectError(f, "invalid page size 768");
}

TEST(DecoderTest, PageBeyondCommit) {
  std::string f = ValidFile();
  StoreBE32(At(f, 12), 4);  // commit 4, but page 5 follows
  ExpectError(f, "page 5 is beyond commit 4");
}

TEST(DecoderTest, LockPagePresent) {
  const uint32_t lock = LockPgno(512);
  Pages pages{{lock - 1, MakePage(512, 1)}};
  std::string f = EncodeLtx(Incremental(lock + 1), pages, 0);
  StoreBE32(At(f, 100), lock);
  ExpectError(f, "is the lock page");
}

TEST(DecoderTest, PagesOutOfOrder) {
  std::string f = ValidFile();
  StoreBE32(At(f, FirstFrameEnd(f)), 1);  // page 3 -> 1
  ExpectError(f, "pages out of order: page 1 after page 2");
}

TEST(DecoderTest, SnapshotMissingPages) {
  Header h = Incremental(3);
  h.min_txid = 1;
  Pages pages;
  for (uint32_t p = 1; p <= 3; p++) pages[p] = MakePage(512, p);
  std::string f = EncodeLtx(h, pages, 0);
  StoreBE32(At(f, 12), 4);
  ExpectError(f, "snapshot is missing pages");
}

TEST(DecoderTest, BadIndex) {
  std::string f = ValidFile();
  const size_t index_len = LoadBE64(At(f, f.size() - 24));
  const size_t index_start = f.size() - 24 - index_len;
  ASSERT_EQ(*At(f, index_start), 2);        // page 2
  ASSERT_EQ(*At(f, index_start + 1), 100);  // at offset 100
  *At(f, index_start + 1) = 101;
  ExpectError(f, "bad index: entry 1 (page 2) has offset 101, want 100");
  std::string g = ValidFile();
  *At(g, index_start) = 4;  // wrong page number, structure intact
  ExpectError(g, "bad index");
  std::string h = ValidFile();
  StoreBE64(At(h, h.size() - 24), index_len + 1);
  ExpectError(h, "bad index: length field");
}

TEST(DecoderTest, ImpossibleCompressedSize) {
  std::string f = ValidFile(PageEncoding::kLZ4Block);
  StoreBE32(At(f, 106), 1 << 20);
  ExpectError(f, "compressed size 1048576 is impossible");
}

// Found by fuzzing: frames no writer produces must not make the decoder
// allocate beyond a page's worth of memory.
TEST(DecoderTest, LZ4FrameDeclaringHugeBlocks) {
  std::string f = ValidFile(PageEncoding::kLZ4Frame);
  *At(f, 106 + 5) = 0x70;  // BD: 4 MiB maximum block size
  ExpectError(f, "maximum blocks; a page frame may declare at most 64 KiB");
}

TEST(DecoderTest, LZ4FrameOfEmptyBlocks) {
  std::string f = ValidFile(PageEncoding::kLZ4Frame);
  // After the 7-byte frame header, endless empty stored blocks (size 0x80000000).
  std::string head = f.substr(0, 106 + 7);
  std::string blocks;
  for (int i = 0; i < 4000; i++) blocks += std::string("\x00\x00\x00\x80", 4);
  ExpectError(head + blocks, "too large for a 512-byte page");
}

TEST(DecoderTest, TrailingData) {
  ExpectError(ValidFile() + "x", "trailing data after the trailer");
}

TEST(DecoderTest, SnapshotChecksumVerified) {
  Header h = Incremental(2);
  h.min_txid = 1;
  h.flags = 0;
  Pages pages{{1, MakePage(512, 1)}, {2, MakePage(512, 2)}};
  EXPECT_TRUE(Decode(EncodeLtx(h, pages, testing::ChecksumOf(pages))).ok());
  ExpectError(EncodeLtx(h, pages, kChecksumFlag | 77), "post-apply checksum mismatch");
}

TEST(DecoderTest, BrokenChecksumChainBetweenFiles) {
  Header a = Incremental(6);
  a.flags = 0;
  a.pre_apply_checksum = kChecksumFlag | 1;
  Header b = a;
  b.min_txid = b.max_txid = 3;
  b.pre_apply_checksum = kChecksumFlag | 2;
  Status s = CheckChain(a, Trailer{kChecksumFlag | 3, 0}, b);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("checksum chain broken"), std::string::npos) << s.message();
  EXPECT_TRUE(CheckChain(a, Trailer{kChecksumFlag | 2, 0}, b).ok());
  b.min_txid = 4;
  b.max_txid = 4;
  s = CheckChain(a, Trailer{kChecksumFlag | 2, 0}, b);
  EXPECT_NE(s.message().find("TXID gap"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace ltxbus::ltx
