#include "ltx/ltx.h"

#include <gtest/gtest.h>

#include <array>

namespace ltxbus::ltx {
namespace {

Header ValidHeader() {
  Header h;
  h.page_size = 4096;
  h.commit = 10;
  h.min_txid = 5;
  h.max_txid = 7;
  h.timestamp_ms = 1234;
  return h;
}

TEST(HeaderTest, RoundTrip) {
  Header h = ValidHeader();
  h.flags = 0;
  h.pre_apply_checksum = kChecksumFlag | 42;
  h.wal_offset = 32;
  h.wal_size = 4120;
  h.wal_salt1 = 7;
  h.wal_salt2 = 9;
  h.node_id = 3;
  std::array<uint8_t, kHeaderSize> raw;
  h.EncodeTo(raw);
  auto back = Header::Decode(raw);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, h);
}

TEST(HeaderTest, ValidationNamesTheField) {
  struct Case {
    void (*mutate)(Header&);
    const char* want;
  } cases[] = {
      {[](Header& h) { h.flags = 1; }, "invalid header flags"},
      {[](Header& h) { h.page_size = 1000; }, "invalid page size"},
      {[](Header& h) { h.min_txid = 0; }, "minimum TXID is zero"},
      {[](Header& h) { h.max_txid = 0; }, "maximum TXID is zero"},
      {[](Header& h) { h.max_txid = 4; }, "is after maximum"},
      {[](Header& h) { h.wal_salt1 = 1; }, "WAL salts set without"},
      {[](Header& h) { h.wal_size = 1; }, "WAL size 1 set without"},
      {[](Header& h) { h.pre_apply_checksum = kChecksumFlag; }, "NoChecksum is set"},
      {[](Header& h) {
         h.flags = 0;
         h.pre_apply_checksum = 5;
       },
       "lacks its flag bit"},
      {[](Header& h) {
         h.min_txid = 1;
         h.flags = 0;
         h.pre_apply_checksum = kChecksumFlag;
       },
       "snapshot (minimum TXID 1) has a pre-apply checksum"},
  };
  for (const auto& c : cases) {
    Header h = ValidHeader();
    c.mutate(h);
    Status s = h.Validate();
    EXPECT_TRUE(s.IsCorruption());
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
  EXPECT_TRUE(ValidHeader().Validate().ok());
}

TEST(FilenameTest, FormatAndParse) {
  EXPECT_EQ(FormatFilename(1, 0xc8), "0000000000000001-00000000000000c8.ltx");
  auto p = ParseFilename("0000000000000001-00000000000000c8.ltx");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->first, 1u);
  EXPECT_EQ(p->second, 0xc8u);
  EXPECT_FALSE(ParseFilename("0000000000000001-00000000000000C8.ltx"));
  EXPECT_FALSE(ParseFilename("000000000000001-00000000000000c8.ltx"));
  EXPECT_FALSE(ParseFilename("0000000000000001-00000000000000c8.ltx.tmp"));
  EXPECT_EQ(FormatPosition(3, 0x8000000000000001ull), "0000000000000003/8000000000000001");
  EXPECT_FALSE(ParseTXID("12").ok());
  EXPECT_EQ(*ParseTXID("00000000000000ff"), 255u);
}

}  // namespace
}  // namespace ltxbus::ltx
