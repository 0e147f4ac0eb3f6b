// `ltxbus follow` end to end against the real nats-server and Kafka 3.9.1:
// the app (tests/apps/bank.py) and the readers (tests/apps/bank_reader.py)
// are separate processes on the system SQLite 3.40.1, `ltxbus replicate`
// publishes, `ltxbus follow` keeps the replica.
//
// - Bank invariant: readers never see a torn or older state while the
//   replica follows growth, shrink, schema changes and VACUUM; the replica
//   passes integrity_check and ends equal to the primary page for page.
// - kill -9 of the follower at 20 random points while the app writes: each
//   restart resumes (and verifies the replica), readers still see no torn
//   state, and the replica ends equal to the primary.
#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <thread>

#include "tests/integration/follower_support.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using testing::ServerKind;

constexpr int kReaders = 4;

class FollowerTest : public testing::FollowerFixture {};

TEST_P(FollowerTest, BankInvariantHoldsForReadersWhileTheReplicaFollows) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  // Small batches: a follower behind (a loaded machine) still shows the
  // readers many states, which is what this test is about.
  auto follower = StartFollower({"-max-batch", "16"});
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  std::vector<Process> readers = StartReaders(kReaders, 100000 / kReaders);
  ASSERT_EQ(readers.size(), static_cast<size_t>(kReaders));
  // Rate-limited so the run spans the readers' reads: seconds of changing
  // states rather than a burst the follower applies in a few batches. Kafka
  // gets fewer: the producer publishes each frame as one Kafka transaction.
  const bool kafka = GetParam() == ServerKind::kKafka;
  RunBank({"--seed", "7", "--transactions", kafka ? "1200" : "3000", "--rate",
           kafka ? "150" : "400", "--vacuum-every", "200"});
  ExpectConverges();
  const ReaderTotals t = StopReaders(readers);
  EXPECT_EQ(t.violations, 0);
  EXPECT_EQ(t.errors, 0);
  EXPECT_GE(t.reads, 100000);
  // Each reader saw the replica change under it, not one frozen snapshot.
  // How many distinct states it sees depends on how the follower batches
  // (more source transactions per replica commit when it is behind, e.g. on
  // a loaded machine; on Kafka a sanitizer build commits the producer's
  // transactions a few times a second), so the bound is loose.
  EXPECT_GE(t.states, kReaders * 10);
  ExpectIntegrityOk();
  ExpectConverges(10s);  // the final state, after the readers stopped
  StopCleanly(follower, "the follower");
  EXPECT_NE(follower->output().find("applying the snapshot"), std::string::npos)
      << follower->output();
  EXPECT_EQ(follower->output().find("[error]"), std::string::npos) << follower->output();
  StopCleanly(producer, "the producer");
  std::cerr << "readers: " << t.reads << " reads, " << t.states << " states seen\n";
}

TEST_P(FollowerTest, KillNineOfTheFollowerAtRandomPointsResumesExactly) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ProcessOptions quiet;
  quiet.stdout_mode = Stream::kDiscard;
  auto app = Process::Spawn({"python3", App("bank.py"), db_, "--seed", "11", "--transactions", "0",
                             "--rate", "300", "--vacuum-every", "120"},
                            quiet);
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  std::vector<Process> readers = StartReaders(1, 0);
  std::mt19937 rng(4242);
  for (int kill = 0; kill < 20 && !HasFatalFailure(); kill++) {
    const ltx::TXID before = PositionTxid();
    auto follower = StartFollower();
    ASSERT_TRUE(follower.ok()) << follower.status().ToString();
    // Kill it while it applies: after it started a batch, at a random moment.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (PositionTxid() <= before && std::chrono::steady_clock::now() < deadline) {
      ASSERT_FALSE(follower->Wait(0ms).ok())
          << "follower " << kill << " exited: " << follower->output();
      std::this_thread::sleep_for(5ms);
    }
    if (PositionTxid() <= before) {
      (void)follower->Wait(0ms);  // collect its log
      FAIL() << "follower " << kill << " applied nothing in 60 s: " << follower->output();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    ASSERT_TRUE(follower->Kill().ok());
    EXPECT_EQ(follower->output().find("[error]"), std::string::npos) << follower->output();
  }
  ASSERT_TRUE(app->Kill().ok());
  auto follower = StartFollower();
  ASSERT_TRUE(follower.ok());
  ExpectConverges();
  const ReaderTotals t = StopReaders(readers);
  EXPECT_EQ(t.violations, 0);
  EXPECT_EQ(t.errors, 0);
  ExpectIntegrityOk();
  StopCleanly(follower, "the follower");
  EXPECT_NE(follower->output().find("verified at TXID"), std::string::npos) << follower->output();
  StopCleanly(producer, "the producer");
}

INSTANTIATE_TEST_SUITE_P(Buses, FollowerTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
