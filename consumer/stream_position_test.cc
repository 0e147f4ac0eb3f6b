#include "consumer/stream_position.h"

#include <gtest/gtest.h>

namespace ltxbus::consumer {
namespace {

TEST(Position, RoundTripsAndRejectsMalformedText) {
  Position p{0x2a, 118, 120};
  EXPECT_EQ(p.ToString(), "000000000000002a:118:120");
  auto back = Position::Parse(p.ToString());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p);
  for (const char* bad :
       {"", "2a:1:2", "000000000000002a:1", "000000000000002a:5:4", "000000000000002a:x:4",
        "000000000000002a:1:2:3", "00000000000000zz:1:2"}) {
    EXPECT_FALSE(Position::Parse(bad).ok()) << bad;
  }
}

TEST(ParseTxidArg, TakesHexAndDecimal) {
  EXPECT_EQ(*ParseTxidArg("000000000000002a"), 42u);
  EXPECT_EQ(*ParseTxidArg("0x2A"), 42u);
  EXPECT_EQ(*ParseTxidArg("42"), 42u);
  for (const char* bad : {"", "0", "-1", "0x", "4 2", "abc"}) {
    EXPECT_FALSE(ParseTxidArg(bad).ok()) << bad;
  }
}

TEST(Rfc3339, ParsesZonesAndFractions) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339("2026-11-21T07:30:12Z"), 1795246212000);
  EXPECT_EQ(*ParseRfc3339("2026-11-21T08:30:12.25+01:00"), 1795246212250);
  EXPECT_EQ(*ParseRfc3339("2026-11-21t02:00:12.123456-05:30"), 1795246212123);
  EXPECT_EQ(*ParseRfc3339("2026-11-21 07:30:12.5z"), 1795246212500);
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:59:59.999Z"), -1);
  for (const char* bad : {"", "2026-11-21", "2026-11-21T07:30:12", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21T07:30:12.Z",
                          "2026-11-21T07:30:12+0100", "2026-11-21T07:30:12Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(bad).ok()) << bad;
  }
}

TEST(Rfc3339, FormatsInUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(1795246212250), "2026-11-21T07:30:12.250Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999Z");
  for (int64_t ms : {int64_t{0}, int64_t{1795246212250}, int64_t{951782400123}}) {
    EXPECT_EQ(*ParseRfc3339(FormatRfc3339(ms)), ms);
  }
}

TEST(StartStop, DescribeThemselves) {
  EXPECT_EQ(StartAt::Txid(42).ToString(), "TXID 000000000000002a");
  EXPECT_EQ(StartAt::Offset(7).ToString(), "offset 7");
  EXPECT_EQ(StopAt::Time(0).ToString(), "time 1970-01-01T00:00:00.000Z");
  EXPECT_EQ(StartAt::After({1, 2, 3}).ToString(), "after position 0000000000000001:2:3");
}

}  // namespace
}  // namespace ltxbus::consumer
