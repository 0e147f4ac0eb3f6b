// `ltxbus archive`, `restore` and `verify` against real servers (moto with
// signature checking, nats-server with JetStream as the only infrastructure,
// a local directory) and the real Litestream v0.5.16:
//
//  - a randomized workload, archived while it ran, restores to every captured
//    TXID and 5 captured times exactly as the primary was then, and to 20
//    random TXIDs exactly as the stream's replay has them, from each backend;
//    `ltxbus verify` passes on each;
//  - `litestream restore` restores our local-directory and S3 archives;
//  - `ltxbus restore` restores an archive `litestream replicate` wrote;
//  - kill -9 of the archiver, 10 times while it compacts, leaves an archive
//    that restores exactly and verifies;
//  - a second archiver on the same archive is fenced (S3 and JetStream).
#include <gmock/gmock.h>

#include <chrono>
#include <csignal>
#include <random>
#include <thread>

#include "base/env.h"
#include "consumer/archive_manifest.h"
#include "consumer/restore.h"
#include "store/time_format.h"
#include "tests/integration/archive_support.h"
#include "tests/integration/litestream_cli.h"
#include "tests/integration/litestream_workload.h"
#include "tests/support/sqlite_pages.h"

namespace ltxbus::archive_test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string Hex(ltx::TXID t) { return ltx::FormatTXID(t); }

TEST_F(ArchiveTest, RestoresEqualThePrimaryAtCapturedTxidsAndTimesFromEveryBackend) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFailure());
  ASSERT_GE(r.captures.size(), 10u);
  std::mt19937 rng(42);
  std::vector<ltx::TXID> txids;
  for (const auto& [t, pages] : r.replayed) txids.push_back(t);
  for (const std::string& url :
       {r.archives.file, r.archives.s3, r.archives.nats, r.archives.versitygw}) {
    SCOPED_TRACE(url);
    const std::string out = r.dir->Join("restored.db");
    for (const Capture& c : r.captures) {
      EXPECT_EQ(testing::DiffPages(c.pages, Restore(url, {"-txid", Hex(c.txid)}, out)), "")
          << "TXID " << Hex(c.txid);
    }
    for (size_t i = 1; i < r.captures.size(); i += r.captures.size() / 5) {
      const Capture& c = r.captures[i];
      const std::string when = store::FormatTimestamp(c.time_ms);
      EXPECT_EQ(testing::DiffPages(c.pages, Restore(url, {"-timestamp", when}, out)), "")
          << "time " << when << " (TXID " << Hex(c.txid) << ")";
    }
    for (int i = 0; i < 20; i++) {
      const ltx::TXID t = txids[rng() % txids.size()];
      EXPECT_EQ(testing::DiffPages(r.replayed.at(t), Restore(url, {"-txid", Hex(t)}, out)), "")
          << "TXID " << Hex(t);
    }
    // The latest state, checked by SQLite too.
    EXPECT_EQ(testing::DiffPages(r.captures.back().pages, Restore(url, {"-integrity-check"}, out)),
              "");
    CommandResult v = Ltxbus({"verify", url});
    EXPECT_EQ(v.exit_code, 0) << v.output << v.error_output;
    EXPECT_THAT(v.output, HasSubstr("ok: ")) << v.output;
  }
}

TEST_F(ArchiveTest, RestoresReadTheManifestInsteadOfListingEveryLevel) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFailure());
  for (const std::string& url : {r.archives.s3, r.archives.nats}) {
    auto s = OpenStore(url);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto m = consumer::LoadManifest(**s, consumer::ArchiveLayout::For(**s));
    ASSERT_TRUE(m.ok() && m->has_value());
    const auto files = (*m)->manifest.files;
    EXPECT_FALSE(consumer::FilesAtLevel(files, 1).empty()) << consumer::Summarize(files);
    EXPECT_FALSE(consumer::FilesAtLevel(files, 2).empty()) << consumer::Summarize(files);
    EXPECT_FALSE(consumer::FilesAtLevel(files, consumer::kSnapshotLevel).empty());
    // One LIST, of level 0 after the manifest's newest TXID (files the
    // archiver uploaded since its last manifest write), not one per level.
    auto fresh = OpenStore(url);
    ASSERT_TRUE(fresh.ok());
    consumer::RestoreOptions o;
    o.output = r.dir->Join("m.db");
    o.target.txid = r.captures[r.captures.size() / 2].txid;
    auto restored = consumer::Restore(Env::Default(), **fresh, o);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    EXPECT_TRUE(restored->from_manifest);
    EXPECT_TRUE(restored->checksum_checked);
    // moto checks signatures over a partly decoded query, so a store's first
    // query holding '/' (start-after) goes out twice (store/s3/s3_client.cc);
    // count a second restore's requests.
    const uint64_t lists = (*fresh)->Requests().list;
    EXPECT_LE(lists, 2u) << url;
    o.target.txid = r.captures[r.captures.size() / 3].txid;
    ASSERT_TRUE(consumer::Restore(Env::Default(), **fresh, o).ok());
    EXPECT_EQ((*fresh)->Requests().list - lists, 1u) << url;
    CommandResult res = Ltxbus({"restore", "-o", r.dir->Join("m.db"), url});
    ASSERT_EQ(res.exit_code, 0) << res.error_output;
    EXPECT_THAT(res.output, HasSubstr("(ltxbus manifest), database checksum verified"));
  }
}

TEST_F(ArchiveTest, LitestreamRestoresOurLocalAndS3Archives) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFailure());
  auto litestream = testing::FindLitestream();
  ASSERT_TRUE(litestream.ok()) << litestream.status().ToString();
  std::vector<std::pair<std::string, std::string>> s3_env = S3Env(ServerKind::kVersitygw);
  // An AWS_CA_BUNDLE in the environment (set on some machines for every tool)
  // makes Litestream's AWS SDK refuse its own HTTP client ("unable to add
  // custom RootCAs HTTPClient"); moto is plain HTTP anyway.
  s3_env.emplace_back("AWS_CA_BUNDLE", "");
  // moto with signature checking refuses every correctly signed LIST with a
  // '/' in its prefix (docs/object-stores.md), which Litestream's SDK sends,
  // so Litestream reads the versitygw copy of the archive.
  const std::string s3_url =
      r.archives.versitygw.substr(0, r.archives.versitygw.find("&access-key-id")) +
      "&forcePathStyle=true";
  for (const std::string& url : {r.archives.file, s3_url}) {
    SCOPED_TRACE(url);
    const std::string out = r.dir->Join(fmt::format("litestream-{}.db", url.substr(0, 2)));
    Status s = testing::LitestreamRestoreUrl(*litestream, url, std::nullopt, out, s3_env);
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto pages = testing::ReadFilePages(out);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    EXPECT_EQ(testing::DiffPages(r.captures.back().pages, *pages), "");
    auto ic = testing::IntegrityCheck(out, r.dir->path());
    ASSERT_TRUE(ic.ok()) << ic.status().ToString();
    EXPECT_EQ(*ic, "ok");
    for (size_t i = 2; i < r.captures.size(); i += 5) {
      const Capture& c = r.captures[i];
      const std::string at = out + "." + Hex(c.txid);
      s = testing::LitestreamRestoreUrl(*litestream, url, c.txid, at, s3_env);
      ASSERT_TRUE(s.ok()) << s.ToString();
      pages = testing::ReadFilePages(at);
      ASSERT_TRUE(pages.ok());
      EXPECT_EQ(testing::DiffPages(c.pages, *pages), "") << "TXID " << Hex(c.txid);
    }
  }
}

TEST_F(ArchiveTest, LtxbusRestoresAnArchiveLitestreamReplicateWrote) {
  auto litestream = testing::FindLitestream();
  ASSERT_TRUE(litestream.ok()) << litestream.status().ToString();
  testing::TempDir dir;
  const std::string db = dir.Join("app.db");
  const std::string replica = dir.Join("replica");
  Status created = testing::RunWorkload(db, {"--create", "--transactions", "2"});
  ASSERT_TRUE(created.ok()) << created.ToString();
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), dir.Join("ls.yml"),
                              AsBytes(testing::ReplicateConfig(db, replica)))
                  .ok());
  auto daemon = testing::SpawnLogged({*litestream, "replicate", "-config", dir.Join("ls.yml")},
                                     dir.Join("litestream.log"));
  ASSERT_TRUE(daemon.ok()) << daemon.status().ToString();
  for (int step = 0; step < 6; step++) {
    Status s = testing::RunWorkload(db, {"--seed", std::to_string(step), "--transactions", "5",
                                         "--big-every", "3", "--big-bytes", "20000"});
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::this_thread::sleep_for(700ms);
  }
  auto want = testing::ReadSqlitePages(db);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  std::this_thread::sleep_for(2s);  // a few sync intervals: everything uploaded
  auto code = daemon->Stop(15s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 0);

  const std::string out = dir.Join("restored.db");
  CommandResult r = Ltxbus({"restore", "-integrity-check", "-o", out, "file://" + replica});
  ASSERT_EQ(r.exit_code, 0) << r.output << r.error_output;
  EXPECT_THAT(r.output, HasSubstr("(listing)"));
  auto got = testing::ReadFilePages(out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(testing::DiffPages(*want, *got), "");
  // Point in time: the same as Litestream's own restore of that TXID.
  auto files = testing::ListArchive(replica);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const auto l0 = testing::FilesAtLevel(*files, 0);
  ASSERT_GE(l0.size(), 3u);
  const ltx::TXID mid = l0[l0.size() / 2].max_txid;
  ASSERT_TRUE(testing::LitestreamRestore(*litestream, replica, mid, dir.Join("ls-mid.db")).ok());
  auto theirs = testing::ReadFilePages(dir.Join("ls-mid.db"));
  ASSERT_TRUE(theirs.ok());
  EXPECT_EQ(testing::DiffPages(
                *theirs, Restore("file://" + replica, {"-txid", Hex(mid)}, dir.Join("mid.db"))),
            "");
  CommandResult v = Ltxbus({"verify", "file://" + replica});
  EXPECT_EQ(v.exit_code, 0) << v.output << v.error_output;
}

TEST_F(ArchiveTest, KillNineOfTheArchiverWhileItCompactsLeavesAnExactArchive) {
  testing::TempDir dir;
  const std::string db = dir.Join("app.db");
  ASSERT_TRUE(testing::RunWorkload(db, {"--create", "--transactions", "3"}).ok());
  const std::string bus_url = NewBusUrl();
  auto producer = StartProducer(db, bus_url, dir.path());
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  // The app keeps writing while the archiver is killed, so every run has
  // new transactions to upload and levels to compact several times a second.
  ProcessOptions quiet;
  quiet.stdout_mode = Stream::kDiscard;
  auto app = Process::Spawn(
      testing::WorkloadArgv(db, {"--seed", "11", "--transactions", "300", "--pause-ms", "25",
                                 "--big-every", "20", "--big-bytes", "40000"}),
      quiet);
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  const std::string url = "file://" + dir.Join("archive");
  const std::string levels =
      "    levels: [{interval: 150ms}, {interval: 400ms}, {interval: 900ms}]\n"
      "    snapshot: {interval: 700ms, retention: 1h}\n";
  std::mt19937 rng(7);
  int compacting = 0;  // killed runs that had compacted, i.e. were killed among compactions
  for (int kills = 0; kills < 10; kills++) {
    auto p = StartArchiver(bus_url, {url}, dir.Join("archive.yml"), levels, {"-lease-wait", "30s"});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + rng() % 800));
    ASSERT_TRUE(p->Signal(SIGKILL).ok());
    auto code = p->Wait(30s);  // reaped, so the next archiver sees its owner gone
    ASSERT_TRUE(code.ok()) << code.status().ToString();
    if (p->output().find("compacted") != std::string::npos) compacting++;
  }
  EXPECT_GE(compacting, 5);
  auto app_code = app->Wait(300s);
  ASSERT_TRUE(app_code.ok() && *app_code == 0);
  auto p = StartArchiver(bus_url, {url}, dir.Join("archive.yml"), levels, {"-lease-wait", "30s"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // The primary's final state, once the archive caught up with it.
  auto want = testing::ReadSqlitePages(db);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok());
  std::string diff = "not restored";
  for (int i = 0; i < 240 && !diff.empty(); i++) {
    std::this_thread::sleep_for(250ms);
    consumer::RestoreOptions o;
    o.output = dir.Join("latest.db");
    auto restored = consumer::Restore(Env::Default(), **store, o);
    if (!restored.ok()) continue;
    auto got = testing::ReadFilePages(o.output);
    ASSERT_TRUE(got.ok());
    diff = testing::DiffPages(*want, *got);
  }
  EXPECT_EQ(diff, "") << p->output();
  StopGracefully(*p, "the archiver");
  StopGracefully(*producer, "the producer");
  // Every level consistent with L0 and the stream's checksum at every TXID.
  CommandResult v = Ltxbus({"verify", url});
  EXPECT_EQ(v.exit_code, 0) << v.output << v.error_output;
}

TEST_F(ArchiveTest, ASecondArchiverIsFenced) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFailure());
  testing::TempDir dir;
  for (const std::string& url : {NewS3Url(ServerKind::kMoto), NewNatsStoreUrl()}) {
    SCOPED_TRACE(url);
    const std::string levels = "    levels: [{interval: 1s}]\n";
    auto first = StartArchiver(r.bus_url, {url}, dir.Join("a.yml"), levels);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    WaitArchived(url, r.last_txid, &*first);
    CommandResult second = Ltxbus({"archive", r.bus_url, "app.db", url});
    EXPECT_EQ(second.exit_code, 1);
    EXPECT_THAT(second.error_output, HasSubstr("is held by another archiver"));
    StopGracefully(*first, "the first archiver");
    // Released on a clean exit: the next one takes over at once.
    auto next = StartArchiver(r.bus_url, {url}, dir.Join("b.yml"), levels);
    ASSERT_TRUE(next.ok());
    std::this_thread::sleep_for(1s);
    StopGracefully(*next, "the next archiver");
    EXPECT_THAT(next->output(), HasSubstr("archiving 'app.db' from TXID " + Hex(r.last_txid + 1)));
  }
}

TEST_F(ArchiveTest, RestoreEntrypointFlags) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFailure());
  testing::TempDir dir;
  const std::string out = dir.Join("app.db");
  CommandResult empty =
      Ltxbus({"restore", "-if-replica-exists", "-o", out, "file://" + dir.Join("none")});
  EXPECT_EQ(empty.exit_code, 0) << empty.error_output;
  EXPECT_FALSE(Env::Default()->FileExists(out));
  EXPECT_EQ(Ltxbus({"restore", "-o", out, "file://" + dir.Join("none")}).exit_code, 1);
  ASSERT_EQ(Ltxbus({"restore", "-if-db-not-exists", "-o", out, r.archives.file}).exit_code, 0);
  ASSERT_TRUE(Env::Default()->FileExists(out));
  CommandResult again = Ltxbus({"restore", "-if-db-not-exists", "-o", out, r.archives.s3});
  EXPECT_THAT(again.output, HasSubstr("already exists"));
  CommandResult bad =
      Ltxbus({"restore", "-o", dir.Join("x.db"), "-txid", Hex(r.last_txid + 5), r.archives.file});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.error_output, HasSubstr("no chain of files ends at TXID"));
  EXPECT_FALSE(Env::Default()->FileExists(dir.Join("x.db")));
  EXPECT_FALSE(Env::Default()->FileExists(dir.Join("x.db.tmp")));
}

}  // namespace
}  // namespace ltxbus::archive_test
