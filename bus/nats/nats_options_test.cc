// NATS URL options: Go durations, byte sizes, and the settings they make.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bus/nats/nats_bus.h"

namespace ltxbus::bus {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1'000'000'000;

TEST(GoDurationTest, ParsesWhatGoParses) {
  EXPECT_EQ(*ParseGoDuration("0"), 0);
  EXPECT_EQ(*ParseGoDuration("24h"), 24 * 3600 * kSecond);
  EXPECT_EQ(*ParseGoDuration("1h30m"), 5400 * kSecond);
  EXPECT_EQ(*ParseGoDuration("2m"), 120 * kSecond);
  EXPECT_EQ(*ParseGoDuration("1.5s"), 1500 * 1'000'000);
  EXPECT_EQ(*ParseGoDuration("500ms"), 500 * 1'000'000);
  EXPECT_EQ(*ParseGoDuration("10us"), 10'000);
  EXPECT_EQ(*ParseGoDuration("10\xC2\xB5s"), 10'000);
  EXPECT_EQ(*ParseGoDuration("7ns"), 7);
  EXPECT_EQ(*ParseGoDuration("+1m1s"), 61 * kSecond);
}

TEST(GoDurationTest, RejectsWhatGoRejects) {
  for (const char* bad : {"", "10", "h", "1d", "-5s", "1.h2", "5 s", "1hh", ".s",
                          "9999999999999999999h", "3000000h"}) {
    auto d = ParseGoDuration(bad);
    EXPECT_FALSE(d.ok()) << "'" << bad << "' gave " << (d.ok() ? *d : 0);
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
    }
  }
}

TEST(ByteSizeTest, ParsesNumbersAndBinaryUnits) {
  EXPECT_EQ(*ParseByteSize("1073741824"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("-1"), -1);
  EXPECT_EQ(*ParseByteSize("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("2G"), int64_t{2} << 30);
  EXPECT_EQ(*ParseByteSize("3kb"), 3072);
  EXPECT_EQ(*ParseByteSize("1T"), int64_t{1} << 40);
  EXPECT_EQ(*ParseByteSize("10b"), 10);
  for (const char* bad : {"", "x", "1X", "-2", "1.5G", "99999999999T", "1 G"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

Result<NatsSettings> Settings(const std::string& url) {
  LTXBUS_ASSIGN_OR_RETURN(Endpoint ep, Endpoint::Parse(url));
  return NatsSettings::FromEndpoint(ep);
}

TEST(NatsSettingsTest, DefaultsFollowTheStreamName) {
  auto s = Settings("nats://127.0.0.1:4222/LTX");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->stream, "LTX");
  EXPECT_EQ(s->subject_prefix, "ltx");
  EXPECT_TRUE(s->create);
  EXPECT_EQ(s->duplicates_ns, 120 * kSecond);
  EXPECT_EQ(s->max_age_ns, 0);
  EXPECT_EQ(s->max_bytes, -1);
  EXPECT_EQ(s->replicas, 1);
  EXPECT_EQ(s->connect_timeout, Millis(5000));
  EXPECT_EQ(s->max_in_flight, 64);
}

TEST(NatsSettingsTest, ReadsEveryOption) {
  auto s = Settings(
      "nats://h:1/S?subject-prefix=a.b&create=false&duplicates=30s&max-age=24h&max-bytes=1G&"
      "replicas=3&connect-timeout=250ms&max-in-flight=32");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->subject_prefix, "a.b");
  EXPECT_FALSE(s->create);
  EXPECT_EQ(s->duplicates_ns, 30 * kSecond);
  EXPECT_EQ(s->max_age_ns, 24 * 3600 * kSecond);
  EXPECT_EQ(s->max_bytes, int64_t{1} << 30);
  EXPECT_EQ(s->replicas, 3);
  EXPECT_EQ(s->connect_timeout, Millis(250));
  EXPECT_EQ(s->max_in_flight, 32);
}

TEST(NatsSettingsTest, RejectsBadNamesAndOptions) {
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"nats://h:1/a.b", "stream name"},
      {"nats://h:1/a%20b", "stream name"},
      {"nats://h:1/S?subject-prefix=a.*", "subject-prefix"},
      {"nats://h:1/S?subject-prefix=a..b", "subject-prefix"},
      {"nats://h:1/S?subject-prefix=.a", "subject-prefix"},
      {"nats://h:1/S?create=yes", "create"},
      {"nats://h:1/S?duplicates=0", "duplicates"},
      {"nats://h:1/S?max-age=1d", "max-age"},
      {"nats://h:1/S?max-bytes=lots", "max-bytes"},
      {"nats://h:1/S?replicas=0", "replicas"},
      {"nats://h:1/S?connect-timeout=10us", "connect-timeout"},
      {"nats://h:1/S?max-in-flight=0", "max-in-flight"},
      {"nats://h:1/S?max-in-flight=1025", "max-in-flight"},
      {"nats://h:1/S?max-in-flight=4x", "max-in-flight"},
      {"nats://h:1/S?partitions=3", "unknown option 'partitions'"},
      {"kafka://h:1/S", "not a nats:// URL"},
  };
  for (const auto& c : cases) {
    auto s = Settings(c.url);
    ASSERT_FALSE(s.ok()) << c.url;
    EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument) << c.url;
    EXPECT_THAT(s.status().message(), HasSubstr(c.says)) << c.url;
  }
}

}  // namespace
}  // namespace ltxbus::bus
