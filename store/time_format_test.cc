#include "store/time_format.h"

#include <gtest/gtest.h>

namespace ltxbus::store {
namespace {

TEST(TimeFormatTest, TimestampsAreGoRfc3339Nano) {
  // 2026-08-01T12:34:56Z
  constexpr int64_t kSecs = 1785587696;
  EXPECT_EQ(FormatTimestamp(kSecs * 1000 + 789), "2026-08-01T12:34:56.789Z");
  EXPECT_EQ(FormatTimestamp(kSecs * 1000 + 780), "2026-08-01T12:34:56.78Z");
  EXPECT_EQ(FormatTimestamp(kSecs * 1000 + 7), "2026-08-01T12:34:56.007Z");
  EXPECT_EQ(FormatTimestamp(kSecs * 1000), "2026-08-01T12:34:56Z");
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(951782400000), "2000-02-29T00:00:00Z");
}

TEST(TimeFormatTest, ParsesWhatItFormatsAndOtherRfc3339) {
  for (int64_t ms :
       {int64_t{0}, int64_t{1785587696789}, int64_t{951782400001}, int64_t{4102444799999}}) {
    auto back = ParseTimestamp(FormatTimestamp(ms));
    ASSERT_TRUE(back.ok()) << FormatTimestamp(ms);
    EXPECT_EQ(*back, ms);
  }
  EXPECT_EQ(*ParseTimestamp("2026-08-01T12:34:56.789123456Z"), 1785587696789);
  EXPECT_EQ(*ParseTimestamp("2026-08-01T14:34:56.5+02:00"), 1785587696500);
  EXPECT_EQ(*ParseTimestamp("2009-10-12T17:50:30.000Z"), 1255369830000);
  EXPECT_FALSE(ParseTimestamp("2026-08-01 12:34:56Z").ok());
  EXPECT_FALSE(ParseTimestamp("2026-08-01T12:34:56").ok());
  EXPECT_FALSE(ParseTimestamp("2026-13-01T12:34:56Z").ok());
  EXPECT_FALSE(ParseTimestamp("2026-08-01T12:34:56.Z").ok());
}

TEST(TimeFormatTest, HttpDatesAndAmzDates) {
  EXPECT_EQ(*ParseHttpDate("Wed, 21 Oct 2015 07:28:00 GMT"), 1445412480000);
  EXPECT_EQ(*ParseHttpDate("Fri, 24 May 2013 00:00:00 GMT"), 1369353600000);
  EXPECT_FALSE(ParseHttpDate("Wed, 21 Foo 2015 07:28:00 GMT").ok());
  EXPECT_FALSE(ParseHttpDate("").ok());
  EXPECT_EQ(FormatAmzDate(1369353600), "20130524T000000Z");
}

}  // namespace
}  // namespace ltxbus::store
