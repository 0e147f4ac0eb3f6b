// Followers bootstrapping from the archive (docs/follower.md, "Bootstrap"),
// on the real nats-server and Kafka broker, with archives kept by
// `ltxbus archive` processes in JetStream alone (nats://) and in a local
// directory (file://), no S3:
//
// - the stream is cut (NATS purge, Kafka DeleteRecords) up to the frame after
//   the archives' newest TXID, so it holds no snapshot and no longer
//   continues a stopped follower's replica: restarted with -archive, that
//   follower switches its replica to the archive's state while four readers
//   check the bank invariant (no torn or older state), then continues from
//   the stream; a new follower with an empty replica does the same from the
//   other archive; both end equal to the primary page for page;
// - once the stream is cut past the archives too, a follower says that the
//   archive is behind the stream as well and waits for a snapshot;
// - a stream emptied and restarted by a new primary (its snapshot's TXID at
//   or below the replica's): the live follower rebuilds the replica from that
//   snapshot (a chain reset) and follows the new primary.
#include <gtest/gtest.h>

#include <thread>

#include "consumer/archive_manifest.h"
#include "consumer/stream_locator.h"
#include "store/object_store.h"
#include "tests/integration/follower_support.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using testing::ServerKind;

class FollowerArchiveTest : public testing::FollowerFixture {
 protected:
  Result<Process> StartArchiver(const std::string& store) {
    return Ltxbus({"archive", url_, "app.db", store});
  }

  ltx::TXID Head() {
    auto b = Connect();
    if (b == nullptr) return 0;
    auto last = b->ReadLastFrame("app.db");
    EXPECT_TRUE(last.ok()) << last.status().ToString();
    return last.ok() && *last ? (*last)->id.max_txid : 0;
  }

  // The head once the producer has published what the app committed (it
  // stays put for a second).
  ltx::TXID SettledHead() {
    ltx::TXID h = Head();
    for (int i = 0; i < 120; i++) {
      std::this_thread::sleep_for(1s);
      const ltx::TXID now = Head();
      if (now == h) return h;
      h = now;
    }
    ADD_FAILURE() << "the stream never stopped growing";
    return h;
  }

  // The replica's position once it has settled at the head: a running
  // follower's position file may name the batch it is committing as pending
  // until it goes idle, so the committed TXID can trail by one batch.
  ltx::TXID SettledPosition() {
    const ltx::TXID head = Head();
    ltx::TXID at = PositionTxid();
    for (int i = 0; i < 300 && at != head; i++) {
      std::this_thread::sleep_for(100ms);
      at = PositionTxid();
    }
    EXPECT_EQ(at, head) << "the replica's position never reached the head";
    return at;
  }

  ltx::TXID Archived(const std::string& url) {
    auto s = store::Open(url);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return 0;
    auto m = consumer::LoadManifest(**s, consumer::ArchiveLayout::For(**s));
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() && *m ? (*m)->manifest.last_txid() : 0;
  }

  void WaitArchived(const std::string& url, ltx::TXID txid, Process& archiver) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (Archived(url) < txid) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << url << " never archived TXID " << txid << ":\n"
          << archiver.output();
      ASSERT_FALSE(archiver.Wait(0ms).ok()) << "the archiver exited:\n" << archiver.output();
      std::this_thread::sleep_for(100ms);
    }
  }

  // The offset of the newest frame's last chunk.
  uint64_t LastOffset() {
    auto b = Connect();
    if (b == nullptr) return 0;
    auto last = b->ReadLastFrame("app.db");
    EXPECT_TRUE(last.ok() && *last) << last.status().ToString();
    return last.ok() && *last ? (*last)->offset : 0;
  }

  // The offset of the first chunk of the frame holding `txid`.
  uint64_t FrameOffset(ltx::TXID txid) {
    auto b = Connect();
    EXPECT_NE(b, nullptr);
    if (b == nullptr) return 0;
    consumer::internal::StreamLocator locator(*b, "app.db", 5000ms);
    auto bounds = locator.ReadBounds();
    EXPECT_TRUE(bounds.ok() && *bounds) << bounds.status().ToString();
    auto chunk = locator.FindTxid(txid);
    EXPECT_TRUE(chunk.ok()) << chunk.status().ToString();
    if (!chunk.ok()) return 0;
    EXPECT_EQ(chunk->headers.frame.min_txid, txid);
    EXPECT_EQ(chunk->headers.index, 0u);
    return chunk->offset;
  }
};

TEST_P(FollowerArchiveTest, FollowersBootstrapFromTheArchiveWhenTheStreamLostTheirPosition) {
  const std::string nats_store =
      fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), testing::UniqueName("archive"));
  const std::string file_store = "file://" + dir_.Join("archive");
  const std::string fresh = dir_.Join("replicas/fresh.db");
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  auto to_nats = StartArchiver(nats_store);
  ASSERT_TRUE(to_nats.ok()) << to_nats.status().ToString();
  auto to_file = StartArchiver(file_store);
  ASSERT_TRUE(to_file.ok()) << to_file.status().ToString();

  // A follower that then stops for longer than the stream keeps its frames.
  auto follower = StartFollower();
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  RunBank({"--seed", "2", "--transactions", "60"});
  ExpectConverges();
  StopCleanly(follower, "the follower");
  const ltx::TXID stopped_at = PositionTxid();

  // Archived while it is down; then the archivers stop and the app goes on.
  RunBank({"--seed", "3", "--transactions", "150"});
  const ltx::TXID archived = SettledHead();
  WaitArchived(nats_store, archived, *to_nats);
  WaitArchived(file_store, archived, *to_file);
  StopCleanly(to_nats, "the nats:// archiver");
  StopCleanly(to_file, "the file:// archiver");
  ASSERT_EQ(Archived(nats_store), archived);
  ASSERT_EQ(Archived(file_store), archived);
  RunBank({"--seed", "4", "--transactions", "80"});
  ASSERT_GT(SettledHead(), archived);

  // Retention: the stream now begins with the frame after the archives' last
  // TXID. No snapshot is left, and the follower's next frame is gone.
  ASSERT_GT(archived, stopped_at + 1);
  DropBefore(FrameOffset(archived + 1));

  // The stopped follower, restarted with an archive, while readers read its
  // replica: the switch to the archive's state is one commit.
  std::vector<Process> readers = StartReaders(4, 500);
  follower = StartFollower({"--archive", file_store});
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  WaitForLog(*follower, "bootstrapped from the archive");
  RunBank({"--seed", "5", "--transactions", "200", "--rate", "100"});
  ExpectConverges();
  const ReaderTotals totals = StopReaders(readers);
  EXPECT_EQ(totals.violations, 0);
  EXPECT_EQ(totals.errors, 0);
  EXPECT_GT(totals.states, 1) << "the readers saw the replica change";
  ExpectIntegrityOk();

  // A new follower, empty replica, from the JetStream-only archive.
  auto second = StartFollower({"--archive", nats_store}, fresh);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  WaitForLog(*second, "bootstrapped from the archive");
  RunBank({"--seed", "6", "--transactions", "40"});
  ExpectConverges(120s);
  ExpectConverges(120s, fresh);
  ExpectIntegrityOk(fresh);
  EXPECT_EQ(PositionTxid(fresh), Head());
  StopCleanly(second, "the second follower");
  StopCleanly(follower, "the follower");
  for (Process* p : {&*follower, &*second}) {
    EXPECT_EQ(p->output().find("[error]"), std::string::npos) << p->output();
  }

  // The stream cut past the archives too: the archive cannot bridge; the
  // follower says so and waits for a snapshot on the stream.
  DropBefore(FrameOffset(Head()));
  auto third = StartFollower({"--archive", file_store}, dir_.Join("replicas/third.db"));
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  WaitForLog(*third, "behind the stream's oldest frame as well");
  WaitForLog(*third, "waiting for one");
  EXPECT_FALSE(Env::Default()->FileExists(dir_.Join("replicas/third.db")));
  StopCleanly(third, "the third follower");
  StopCleanly(producer, "the producer");
}

TEST_P(FollowerArchiveTest, ASnapshotOfARestartedStreamResetsTheReplica) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  // The app writes once the initial snapshot is out, so that its 80
  // transactions are 80 TXIDs, more than the new primary's below.
  WaitForLog(*producer, "published at offset");
  auto follower = StartFollower();
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  RunBank({"--seed", "2", "--transactions", "80"});
  ExpectConverges();
  const ltx::TXID before = SettledPosition();
  ASSERT_GT(before, 80u);

  // The stream is emptied and a new primary (another database under the
  // same name) starts over: its TXIDs begin again at 1.
  StopCleanly(producer, "the producer");
  DropBefore(LastOffset() + 1);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    (void)Env::Default()->RemoveFile(db_ + suffix);
  }
  RunBank({"--create", "--seed", "9", "--accounts", "1000", "--transactions", "5"});
  producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  WaitForLog(*follower, "the stream was reset");
  RunBank({"--seed", "10", "--transactions", "20"});
  ExpectConverges();
  ExpectIntegrityOk();
  EXPECT_LT(SettledPosition(), before);
  StopCleanly(follower, "the follower");
  EXPECT_EQ(follower->output().find("[error]"), std::string::npos) << follower->output();
  StopCleanly(producer, "the producer");
}

INSTANTIATE_TEST_SUITE_P(Buses, FollowerArchiveTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
