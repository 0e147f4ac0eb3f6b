#include "ltx/checksum.h"

#include <gtest/gtest.h>

#include "tests/support/ltx_builder.h"

namespace ltxbus::ltx {
namespace {

using testing::FilledPage;

// Vectors asserted by superfly/ltx's Go tests (docs/ltx-format.md §9.1).
TEST(ChecksumTest, GoChecksumReaderVector) {
  DatabaseChecksum sum;
  for (uint8_t b = 1; b <= 3; b++) sum.Add(PageChecksum(b, FilledPage(512, b)));
  EXPECT_EQ(sum.Value(), 0xefffffffecd99000ull);
}

TEST(ChecksumTest, GoSnapshotVectors) {
  DatabaseChecksum a;
  a.Add(PageChecksum(1, FilledPage(1024, '2')));
  a.Add(PageChecksum(2, FilledPage(1024, '3')));
  EXPECT_EQ(a.Value(), 0xe1899b6d587aaaaaull);
  DatabaseChecksum b;
  b.Add(PageChecksum(1, FilledPage(512, '2')));
  b.Add(PageChecksum(2, FilledPage(512, '3')));
  EXPECT_EQ(b.Value(), 0x8b87423eeeeeeeeeull);
  DatabaseChecksum c;
  c.Add(PageChecksum(1, FilledPage(512, '1')));
  EXPECT_EQ(c.Value(), 0xeb1a999231044dddull);
  DatabaseChecksum d;
  for (uint8_t i = 0; i < 3; i++) d.Add(PageChecksum(i + 1u, FilledPage(1024, 0x81 + i)));
  EXPECT_EQ(d.Value(), 0x8a249272ad9f7deaull);
}

TEST(ChecksumTest, RemoveUndoesAdd) {
  DatabaseChecksum sum;
  sum.Add(PageChecksum(1, FilledPage(512, 1)));
  const Checksum one = sum.Value();
  sum.Add(PageChecksum(2, FilledPage(512, 2)));
  sum.Remove(PageChecksum(2, FilledPage(512, 2)));
  EXPECT_EQ(sum.Value(), one);
  EXPECT_EQ(DatabaseChecksum().Value(), kChecksumFlag);
  EXPECT_EQ(DatabaseChecksum(one).Value(), one);
}

TEST(ChecksumTest, LockPageNumbers) {
  EXPECT_EQ(LockPgno(512), 2097153u);
  EXPECT_EQ(LockPgno(4096), 262145u);
  EXPECT_EQ(LockPgno(65536), 16385u);
}

}  // namespace
}  // namespace ltxbus::ltx
