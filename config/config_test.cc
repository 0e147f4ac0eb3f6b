#include "config/config.h"

#include <gtest/gtest.h>

#include <map>

namespace ltxbus::config {
namespace {

std::optional<std::string> FakeEnv(const std::string& name) {
  static const std::map<std::string, std::string> kEnv = {{"BUS", "nats://127.0.0.1:4222/LTX"},
                                                          {"DIR", "/data"}};
  auto it = kEnv.find(name);
  if (it == kEnv.end()) return std::nullopt;
  return it->second;
}

TEST(ConfigTest, ParsesDatabasesWithDefaultsAndEnv) {
  auto c = Config::Parse(R"(
bus: ${BUS}
on-fenced: wait
dbs:
  - path: $DIR/app.db
  - path: ${DIR}/other.db
    name: other
    bus: kafka://127.0.0.1:9092/frames
    monitor-interval: 250ms
    checkpoint-interval: 1m30s
    min-checkpoint-page-count: 500
    chunk-size: 256KiB
    page-encoding: frame
)",
                         FakeEnv);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->dbs.size(), 2u);
  EXPECT_EQ(c->on_fenced, Config::OnFenced::kWait);
  EXPECT_EQ(c->log_level, "");  // not set: the command line decides, else info
  EXPECT_EQ(c->dbs[0].path, "/data/app.db");
  EXPECT_EQ(c->dbs[0].name, "app.db");
  EXPECT_EQ(c->dbs[0].bus, "nats://127.0.0.1:4222/LTX");
  EXPECT_EQ(c->dbs[0].monitor_interval, Millis(100));
  EXPECT_EQ(c->dbs[1].name, "other");
  EXPECT_EQ(c->dbs[1].bus, "kafka://127.0.0.1:9092/frames");
  EXPECT_EQ(c->dbs[1].monitor_interval, Millis(250));
  EXPECT_EQ(c->dbs[1].checkpoint_interval, Millis(90000));
  EXPECT_EQ(c->dbs[1].min_checkpoint_page_count, 500u);
  EXPECT_EQ(c->dbs[1].chunk_size, 256u * 1024);
  EXPECT_EQ(c->dbs[0].page_encoding, "block");
  EXPECT_EQ(c->dbs[1].page_encoding, "frame");
}

TEST(ConfigTest, ErrorsNameTheProblem) {
  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"dbs: []", "non-empty 'dbs'"},
      {"bus: x\ndbs:\n  - path: a.db\n    pth: b\n", "unknown key 'pth' in dbs[0]"},
      {"bsu: x\ndbs:\n  - path: a.db\n", "unknown key 'bsu'"},
      {"dbs:\n  - path: a.db\n", "no bus URL"},
      {"bus: x\ndbs:\n  - path: a.db\n    monitor-interval: soon\n", "bad duration 'soon'"},
      {"bus: x\ndbs:\n  - path: a/x.db\n  - path: b/x.db\n", "two databases are named 'x.db'"},
      {"bus: x\ndbs: [", "not valid YAML"},
      {"bus: x\ndbs:\n  - path: a.db\n    page-encoding: lz4\n", "dbs[0]: page-encoding must"},
      {"bus: x\non-fenced: maybe\ndbs:\n  - path: a.db\n", "on-fenced must be"},
      {"bus: x\nlog-level: verbose\ndbs:\n  - path: a.db\n", "'verbose' is not one of"},
  };
  for (const auto& c : cases) {
    auto r = Config::Parse(c.yaml, FakeEnv);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << r.status().message();
  }
}

TEST(ConfigTest, DurationsSizesAndExpansion) {
  EXPECT_EQ(*ParseDuration("1h"), Millis(3600000));
  EXPECT_EQ(*ParseDuration("1.5s"), Millis(1500));
  EXPECT_FALSE(ParseDuration("5").ok());
  EXPECT_EQ(*ParseSize("64MiB"), 64u << 20);
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_FALSE(ParseSize("lots").ok());
  EXPECT_EQ(ExpandEnv("a ${DIR} $DIR $NOPE $ {x", FakeEnv), "a /data /data  $ {x");
}

TEST(ConfigTest, ParsesFollowReplicas) {
  auto c = Config::Parse(R"(
bus: ${BUS}
follow:
  - name: app.db
    replica: $DIR/replicas/app.db
  - name: app.db
    replica: /srv/app-copy.db
    bus: kafka://127.0.0.1:9092/frames
    archive: file:///srv/archive/app
    max-batch: 16
    min-checkpoint-page-count: 200
    wal-truncate-size: 8MiB
)",
                         FakeEnv);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->dbs.empty());
  ASSERT_EQ(c->follow.size(), 2u);
  EXPECT_EQ(c->follow[0].name, "app.db");
  EXPECT_EQ(c->follow[0].replica, "/data/replicas/app.db");
  EXPECT_EQ(c->follow[0].bus, "nats://127.0.0.1:4222/LTX");
  EXPECT_EQ(c->follow[0].max_batch, 256);
  EXPECT_EQ(c->follow[0].archive, "");
  EXPECT_EQ(c->follow[1].archive, "file:///srv/archive/app");
  EXPECT_EQ(c->follow[1].bus, "kafka://127.0.0.1:9092/frames");
  EXPECT_EQ(c->follow[1].max_batch, 16);
  EXPECT_EQ(c->follow[1].min_checkpoint_page_count, 200u);
  EXPECT_EQ(c->follow[1].wal_truncate_bytes, 8u << 20);

  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"bus: x\nfollow: []\n", "non-empty list of replicas"},
      {"bus: x\nfollow:\n  - name: a\n", "has no 'replica'"},
      {"bus: x\nfollow:\n  - name: a\n    replica: r\n    archive: ''\n",
       "'archive' must not be empty"},
      {"follow:\n  - name: a\n    replica: r\n", "no bus URL"},
      {"bus: x\nfollow:\n  - name: a\n    replica: r\n    max-batch: 0\n", "max-batch"},
      {"bus: x\nfollow:\n  - name: a\n    replica: r\n  - name: b\n    replica: r\n",
       "two follow entries write the replica 'r'"},
      {"bus: x\nfollow:\n  - name: a\n    replica: r\n    path: p\n", "unknown key 'path'"},
  };
  for (const auto& k : cases) {
    auto r = Config::Parse(k.yaml, FakeEnv);
    ASSERT_FALSE(r.ok()) << k.yaml;
    EXPECT_NE(r.status().message().find(k.want), std::string::npos) << r.status().message();
  }
}

TEST(ConfigTest, ParsesArchivesWithLitestreamDefaults) {
  auto c = Config::Parse(R"(
bus: ${BUS}
archive:
  - name: app.db
    url: s3://bucket/app?endpoint=http://127.0.0.1:9000
  - name: other.db
    url: $DIR/archive
    bus: kafka://127.0.0.1:9092/frames
    sync-interval: 0
    levels: [{interval: 2s}, {interval: 10s}]
    snapshot: {interval: 30s, retention: 1m}
    l0-retention: 5s
    lease-ttl: 2s
    page-encoding: frame
)",
                         FakeEnv);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->archive.size(), 2u);
  const ArchiveConfig& a = c->archive[0];
  EXPECT_EQ(a.bus, "nats://127.0.0.1:4222/LTX");
  EXPECT_EQ(a.sync_interval, Millis(1000));
  EXPECT_EQ(a.levels, (std::vector<Millis>{Millis(30000), Millis(300000), Millis(3600000)}));
  EXPECT_EQ(a.snapshot_interval, Millis(86400000));
  EXPECT_EQ(a.snapshot_retention, Millis(86400000));
  EXPECT_EQ(a.l0_retention, Millis(300000));
  EXPECT_EQ(a.page_encoding, "block");
  const ArchiveConfig& b = c->archive[1];
  EXPECT_EQ(b.url, "/data/archive");
  EXPECT_EQ(b.bus, "kafka://127.0.0.1:9092/frames");
  EXPECT_EQ(b.sync_interval, Millis(0));
  EXPECT_EQ(b.levels, (std::vector<Millis>{Millis(2000), Millis(10000)}));
  EXPECT_EQ(b.snapshot_interval, Millis(30000));
  EXPECT_EQ(b.snapshot_retention, Millis(60000));
  EXPECT_EQ(b.l0_retention, Millis(5000));
  EXPECT_EQ(b.lease_ttl, Millis(2000));
  EXPECT_EQ(b.page_encoding, "frame");

  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"archive: []\n", "non-empty list of archives"},
      {"archive:\n  - name: a\n", "has no 'url'"},
      {"archive:\n  - name: a\n    url: u\n    levels: []\n", "1 to 8"},
      {"archive:\n  - name: a\n    url: u\n    levels: [{every: 1s}]\n", "unknown key 'every'"},
      {"archive:\n  - name: a\n    url: u\n    snapshot: {interval: 0}\n", "must be > 0"},
      {"archive:\n  - name: a\n    url: u\n    page-encoding: lz4\n", "'block' or 'frame'"},
      {"archive:\n  - name: a\n    url: u\n  - name: b\n    url: u\n", "two archive entries"},
  };
  for (const auto& k : cases) {
    auto r = Config::Parse(k.yaml, FakeEnv);
    ASSERT_FALSE(r.ok()) << k.yaml;
    EXPECT_NE(r.status().message().find(k.want), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace ltxbus::config
