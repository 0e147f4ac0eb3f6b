// The Kafka bus against a real Kafka 3.9.1 broker (tests/support/testbed.h):
// chunked frames reassemble byte for byte, Open() finds the newest complete
// frame, aborted and fenced frames stay invisible to read_committed readers,
// subscriptions start where asked, and an unreachable broker fails in time.
// Each test uses its own topic; the broker is shared by the suite.
#include "bus/kafka/kafka_bus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bus/assembler.h"
#include "bus/bus.h"
#include "bus/kafka/kafka_client.h"
#include "bus/kafka/kafka_internal.h"
#include "tests/support/testbed.h"

namespace ltxbus::bus {
namespace {

using ::ltxbus::testing::ServerKind;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

constexpr Millis kWait{20000};  // bound on every wait for data in these tests

FrameId Id(const std::string& db, ltx::TXID txid, const std::string& attempt = "a") {
  return FrameId{db,
                 txid,
                 txid,
                 attempt,
                 "testhost/1/2",
                 1700000000000 + int64_t(txid),
                 ltx::kChecksumFlag | txid};
}

std::string Bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

FrameTrailer Trailer(const FrameId& id, size_t size) {
  return FrameTrailer{size, ltx::kChecksumFlag | (id.max_txid + 1000),
                      WalPosition{0x11, 0x22, id.max_txid * 10, 0x33, 0x44}};
}

// Appends in uneven pieces, as an encoder would.
Status AppendAll(FrameWriter& w, const std::string& bytes) {
  size_t pos = 0;
  for (size_t step = 1000; pos < bytes.size(); step = step * 3 % 200003 + 1) {
    const size_t n = std::min(step, bytes.size() - pos);
    LTXBUS_RETURN_IF_ERROR(w.Append(AsBytes(std::string_view(bytes).substr(pos, n))));
    pos += n;
  }
  return Status::OK();
}

Result<uint64_t> Publish(Publisher& p, const FrameId& id, const std::string& bytes) {
  LTXBUS_ASSIGN_OR_RETURN(auto writer, p.BeginFrame(id));
  LTXBUS_RETURN_IF_ERROR(AppendAll(*writer, bytes));
  return writer->Commit(Trailer(id, bytes.size()));
}

// Reads chunks until `stop` accepts one (included) or kWait passes.
template <typename Stop>
std::vector<Chunk> ReadChunksUntil(Subscriber& sub, Stop stop) {
  std::vector<Chunk> chunks;
  const auto deadline = steady_clock::now() + kWait;
  while (steady_clock::now() < deadline) {
    auto next = sub.Next(Millis(500));
    if (!next.ok()) {
      ADD_FAILURE() << next.status().ToString();
      break;
    }
    if (!next->has_value()) continue;
    chunks.push_back(std::move(**next));
    if (stop(chunks.back())) return chunks;
  }
  ADD_FAILURE() << "the stop chunk did not arrive within " << kWait.count() << " ms after "
                << chunks.size() << " chunks";
  return chunks;
}

std::vector<Frame> Assemble(std::vector<Chunk> chunks, std::vector<std::string>* drops) {
  FrameAssembler assembler(8 << 20, [&](const std::string& why) { drops->push_back(why); });
  std::vector<Frame> frames;
  for (Chunk& c : chunks) {
    auto f = assembler.Add(std::move(c));
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (f.ok() && f->has_value()) frames.push_back(std::move(**f));
  }
  return frames;
}

bool IsLastOf(const Chunk& c, ltx::TXID txid) {
  return c.headers.last && c.headers.frame.max_txid == txid;
}

// Reads the database's frames from `sub` until TXID frames.size() and expects
// exactly `frames`, as TXIDs 1, 2, ..., whole and in order.
void ExpectFrames(Subscriber& sub, const std::vector<std::string>& frames) {
  std::vector<std::string> drops;
  auto got = Assemble(
      ReadChunksUntil(sub, [&](const Chunk& c) { return IsLastOf(c, frames.size()); }), &drops);
  EXPECT_THAT(drops, ::testing::IsEmpty());
  ASSERT_EQ(got.size(), frames.size());
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].id(), Id("app.db", i + 1));
    auto bytes = got[i].ReadAll();
    ASSERT_TRUE(bytes.ok());
    EXPECT_TRUE(*bytes == frames[i]) << "frame " << i << " bytes differ";
  }
}

// librdkafka logs through spdlog; a test keeps them in memory and prints
// them only if it failed (expected errors, such as fencing, log too).
class QuietLogs {
 public:
  QuietLogs()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(500)),
        previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("kafka-test", sink_);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  QuietLogs(const QuietLogs&) = delete;
  QuietLogs& operator=(const QuietLogs&) = delete;
  ~QuietLogs() {
    if (::testing::Test::HasFailure()) {
      for (const std::string& line : sink_->last_formatted()) std::fputs(line.c_str(), stderr);
    }
    spdlog::set_default_logger(previous_);
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

class KafkaBusTest : public ::ltxbus::testing::ServerTest<ServerKind::kKafka> {
 protected:
  QuietLogs logs_;
  // A bus on a topic of its own.
  std::unique_ptr<Bus> Connect(const std::string& query = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    topic_ = fmt::format("t-{}-{}", info->name(), kafka::RandomSuffix());
    auto endpoint = Endpoint::Parse(
        fmt::format("kafka://{}/{}{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), topic_, query));
    EXPECT_TRUE(endpoint.ok()) << endpoint.status().ToString();
    auto bus = ConnectKafka(*endpoint);
    EXPECT_TRUE(bus.ok()) << bus.status().ToString();
    return bus.ok() ? std::move(bus).value() : nullptr;
  }

  std::unique_ptr<Publisher> OpenPublisher(Bus& bus, const std::string& db,
                                           std::optional<LastFrame>* last = nullptr,
                                           size_t chunk_size = 512 * 1024) {
    PublisherOptions options;
    options.producer = "testhost/1/2";
    options.chunk_size = chunk_size;
    options.ack_timeout = kWait;
    auto p = bus.NewPublisher(db, options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return nullptr;
    auto opened = (*p)->Open();
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (last != nullptr && opened.ok()) *last = *opened;
    return std::move(p).value();
  }

  std::unique_ptr<Subscriber> Subscribe(Bus& bus, const std::string& db, StartPosition start) {
    auto s = bus.Subscribe(db, start);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::string topic_;
};

// (1) 100 frames of assorted sizes, one of several MiB (over the broker's
// 1 MiB message limit, so it must be chunked), come back byte-equal and in
// order; another database's frames on the same partition are filtered out.
TEST_F(KafkaBusTest, FramesOfAssortedSizesReassembleInOrder) {
  auto bus = Connect();
  ASSERT_NE(bus, nullptr);
  const size_t chunk = 512 * 1024;
  auto pub = OpenPublisher(*bus, "app.db");
  auto other = OpenPublisher(*bus, "other.db");
  ASSERT_NE(pub, nullptr);
  ASSERT_NE(other, nullptr);

  std::vector<size_t> sizes = {1, 4096, chunk - 1, chunk, chunk + 1, 2 * chunk, 5 * chunk + 12345};
  std::mt19937 rng(7);
  while (sizes.size() < 100) sizes.push_back(1 + rng() % 40000);
  std::shuffle(sizes.begin() + 1, sizes.end(), rng);
  std::vector<std::string> frames;
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < sizes.size(); i++) {
    frames.push_back(Bytes(sizes[i], static_cast<uint32_t>(i)));
    auto off = Publish(*pub, Id("app.db", i + 1), frames.back());
    ASSERT_TRUE(off.ok()) << "frame " << i << ": " << off.status().ToString();
    offsets.push_back(*off);
    if (i % 10 == 0) {
      ASSERT_TRUE(Publish(*other, Id("other.db", i + 1), Bytes(100, 99)).ok());
    }
  }

  auto sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kBeginning});
  ASSERT_NE(sub, nullptr);
  auto chunks = ReadChunksUntil(*sub, [&](const Chunk& c) { return IsLastOf(c, sizes.size()); });
  for (const Chunk& c : chunks) ASSERT_EQ(c.headers.frame.database, "app.db");
  std::vector<std::string> drops;
  auto got = Assemble(std::move(chunks), &drops);
  EXPECT_THAT(drops, ::testing::IsEmpty());
  ASSERT_EQ(got.size(), frames.size());
  const int64_t now_ms =
      std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  for (size_t i = 0; i < got.size(); i++) {
    SCOPED_TRACE(fmt::format("frame {} of {} bytes", i, sizes[i]));
    EXPECT_EQ(got[i].id(), Id("app.db", i + 1));
    EXPECT_EQ(got[i].trailer().wal, Trailer(Id("app.db", i + 1), sizes[i]).wal);
    EXPECT_EQ(got[i].last_offset(), offsets[i]);
    EXPECT_NEAR(static_cast<double>(got[i].bus_time_ms()), static_cast<double>(now_ms), 120000.0);
    auto bytes = got[i].ReadAll();
    ASSERT_TRUE(bytes.ok());
    EXPECT_TRUE(*bytes == frames[i]) << "frame bytes differ";
    // Chunks occupy consecutive offsets: one per chunk.
    EXPECT_EQ(got[i].last_offset() - got[i].first_offset() + 1,
              std::max<size_t>(1, (sizes[i] + chunk - 1) / chunk));
  }
  auto head = sub->HeadOffset();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_GT(*head, offsets.back());  // the commit marker follows the last chunk
}

// (2) Open() reports the newest complete frame, walking back over aborted
// frames, transaction markers and other databases' frames; aborted and
// unfinished frames never reach a read_committed reader.
TEST_F(KafkaBusTest, OpenFindsLastCompleteFrameAndAbortedFramesStayInvisible) {
  auto bus = Connect();
  ASSERT_NE(bus, nullptr);
  std::optional<LastFrame> last;
  auto pub = OpenPublisher(*bus, "app.db", &last, 1000);
  ASSERT_NE(pub, nullptr);
  EXPECT_FALSE(last.has_value()) << "empty topic";

  ASSERT_TRUE(Publish(*pub, Id("app.db", 1), Bytes(2500, 1)).ok());
  auto second = Publish(*pub, Id("app.db", 2), Bytes(3000, 2));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  {
    auto w = pub->BeginFrame(Id("app.db", 3, "aborted"));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(AppendAll(**w, Bytes(4500, 3)).ok());  // four chunks on the wire
    (*w)->Abort();
  }
  {
    auto w = pub->BeginFrame(Id("app.db", 3, "dropped"));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(AppendAll(**w, Bytes(4500, 4)).ok());
  }  // destroyed without Commit
  // More than the first walk-back window of another database's offsets.
  auto other = OpenPublisher(*bus, "other.db");
  ASSERT_NE(other, nullptr);
  for (ltx::TXID t = 1; t <= 40; t++) ASSERT_TRUE(Publish(*other, Id("other.db", t), "x").ok());

  // Another database's frame is in progress on the shared partition: the
  // walk back must stop at the end of the committed data, not wait for it.
  auto in_progress = other->BeginFrame(Id("other.db", 41));
  ASSERT_TRUE(in_progress.ok()) << in_progress.status().ToString();
  ASSERT_TRUE(AppendAll(**in_progress, Bytes(600 * 1024, 6)).ok());  // one chunk sent
  std::this_thread::sleep_for(Millis(300));  // its produce request reaches the broker

  auto pub2 = OpenPublisher(*bus, "app.db", &last, 1000);
  ASSERT_NE(pub2, nullptr);
  ASSERT_TRUE((*in_progress)->Commit(Trailer(Id("other.db", 41), 600 * 1024)).ok());
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, Id("app.db", 2));
  EXPECT_EQ(last->offset, *second);
  EXPECT_EQ(last->trailer.frame_size, 3000u);
  EXPECT_EQ(last->trailer.post_apply, Trailer(Id("app.db", 2), 3000).post_apply);
  ASSERT_TRUE(last->trailer.wal.has_value());
  EXPECT_EQ(*last->trailer.wal, (WalPosition{0x11, 0x22, 20, 0x33, 0x44}));

  // The old publisher's frame is gone; the new one continues at TXID 3.
  auto third = Publish(*pub2, Id("app.db", 3, "final"), Bytes(1500, 5));
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  auto sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kBeginning});
  ASSERT_NE(sub, nullptr);
  auto chunks = ReadChunksUntil(*sub, [](const Chunk& c) { return IsLastOf(c, 3); });
  for (const Chunk& c : chunks) {
    EXPECT_NE(c.headers.frame.attempt, "aborted") << "offset " << c.offset;
    EXPECT_NE(c.headers.frame.attempt, "dropped") << "offset " << c.offset;
  }
  std::vector<std::string> drops;
  auto frames = Assemble(std::move(chunks), &drops);
  EXPECT_THAT(drops, ::testing::IsEmpty());
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[2].id(), Id("app.db", 3, "final"));
  EXPECT_EQ(frames[2].last_offset(), *third);

  std::optional<LastFrame> after;
  auto pub3 = OpenPublisher(*bus, "app.db", &after);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->id, Id("app.db", 3, "final"));
  auto none = OpenPublisher(*bus, "never.db", &after);
  EXPECT_FALSE(after.has_value()) << "a database without frames";
}

// Aborting a frame right after committing the previous one keeps the
// publisher usable. (librdkafka 2.0.2 alone can turn such an abort into a
// fatal INVALID_TXN_STATE error while the coordinator still completes the
// commit; the publisher waits for its chunks' acknowledgements first.)
TEST_F(KafkaBusTest, AbortRightAfterCommitKeepsPublisherUsable) {
  auto bus = Connect();
  ASSERT_NE(bus, nullptr);
  auto pub = OpenPublisher(*bus, "app.db", nullptr, 1000);
  ASSERT_NE(pub, nullptr);
  for (ltx::TXID t = 1; t <= 25; t++) {
    SCOPED_TRACE(fmt::format("TXID {}", t));
    ASSERT_TRUE(Publish(*pub, Id("app.db", t), Bytes(1500, 1)).ok());
    auto w = pub->BeginFrame(Id("app.db", t + 1, "aborted"));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(AppendAll(**w, Bytes(2500, 2)).ok());  // two chunks produced
    (*w)->Abort();
  }
  auto last = Publish(*pub, Id("app.db", 26), Bytes(10, 3));
  ASSERT_TRUE(last.ok()) << last.status().ToString();
}

// (3) A second publisher for the database fences the first: the first gets
// Conflict naming the database and transactional.id, and nothing it
// publishes after the fence is visible.
TEST_F(KafkaBusTest, SecondPublisherFencesTheFirst) {
  auto bus = Connect("?transactional-id-prefix=fence-");
  ASSERT_NE(bus, nullptr);
  auto first = OpenPublisher(*bus, "app.db", nullptr, 1000);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(Publish(*first, Id("app.db", 1), Bytes(2000, 1)).ok());
  // A frame open across the fence, chunks already produced.
  auto open = first->BeginFrame(Id("app.db", 2, "zombie"));
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  ASSERT_TRUE(AppendAll(**open, Bytes(3500, 2)).ok());

  std::optional<LastFrame> last;
  auto second = OpenPublisher(*bus, "app.db", &last, 1000);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, Id("app.db", 1));

  auto commit = (*open)->Commit(Trailer(Id("app.db", 2, "zombie"), 3500));
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(commit.status().code(), Status::Code::kConflict) << commit.status().ToString();
  EXPECT_THAT(commit.status().message(), HasSubstr("'app.db'"));
  EXPECT_THAT(commit.status().message(), HasSubstr("fence-app%2Edb"));
  auto again = first->BeginFrame(Id("app.db", 2, "zombie2"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kConflict);

  ASSERT_TRUE(Publish(*second, Id("app.db", 2, "second"), Bytes(2000, 3)).ok());
  // A publisher fenced between frames fails at its next frame.
  auto third = OpenPublisher(*bus, "app.db", nullptr, 1000);
  ASSERT_NE(third, nullptr);
  auto late = Publish(*second, Id("app.db", 3, "late"), Bytes(2500, 4));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), Status::Code::kConflict) << late.status().ToString();
  ASSERT_TRUE(Publish(*third, Id("app.db", 3, "third"), Bytes(100, 5)).ok());

  auto sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kBeginning});
  ASSERT_NE(sub, nullptr);
  std::vector<std::string> drops;
  auto frames =
      Assemble(ReadChunksUntil(*sub, [](const Chunk& c) { return IsLastOf(c, 3); }), &drops);
  EXPECT_THAT(drops, ::testing::IsEmpty());
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].id(), Id("app.db", 1));
  EXPECT_EQ(frames[1].id(), Id("app.db", 2, "second"));
  EXPECT_EQ(frames[2].id(), Id("app.db", 3, "third"));
}

// A publisher's transactions alternate between its two transactional ids
// (kafka_publisher.cc, "lanes"), and it is fenced on either: a producer that
// takes one id over fails the publisher's next transaction on that id, with
// Conflict naming it; a new publisher takes both; frames from both ids arrive
// whole and in order.
TEST_F(KafkaBusTest, TransactionsAlternateBetweenTwoIdsAndEitherFences) {
  auto bus = Connect("?transactional-id-prefix=lanes-");
  ASSERT_NE(bus, nullptr);
  auto endpoint = Endpoint::Parse(fmt::format("kafka://{}/{}?transactional-id-prefix=lanes-",
                                              env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), topic_));
  ASSERT_TRUE(endpoint.ok());
  auto settings = kafka::KafkaSettings::FromEndpoint(*endpoint);
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  const std::vector<std::string> ids = kafka::TransactionalIds(*settings, "app.db");
  ASSERT_EQ(ids, (std::vector<std::string>{"lanes-app%2Edb", "lanes-app%2Edb.1"}));
  // Takes `id` over, as a publisher of another process would.
  auto take_over = [&](const std::string& id) {
    auto client = kafka::NewClient(*settings, RD_KAFKA_PRODUCER, {{"transactional.id", id}});
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    if (!client.ok()) return;
    kafka::RdPtr<rd_kafka_error_t> e(
        rd_kafka_init_transactions(client->get(), static_cast<int>(kWait.count())));
    EXPECT_EQ(e, nullptr) << rd_kafka_error_string(e.get());
  };

  std::vector<std::string> frames;
  auto first = OpenPublisher(*bus, "app.db", nullptr, 1000);
  ASSERT_NE(first, nullptr);
  frames.push_back(Bytes(2500, 1));
  ASSERT_TRUE(Publish(*first, Id("app.db", 1), frames.back()).ok());  // first id
  take_over(ids[1]);
  auto fenced = Publish(*first, Id("app.db", 2, "zombie"), Bytes(2500, 2));  // second id
  ASSERT_FALSE(fenced.ok());
  EXPECT_EQ(fenced.status().code(), Status::Code::kConflict) << fenced.status().ToString();
  EXPECT_THAT(fenced.status().message(), HasSubstr("'" + ids[1] + "'"));

  auto second = OpenPublisher(*bus, "app.db", nullptr, 1000);
  ASSERT_NE(second, nullptr);
  for (ltx::TXID t = 2; t <= 5; t++) {
    frames.push_back(Bytes(1500 * t, static_cast<uint32_t>(t)));
    auto sent = Publish(*second, Id("app.db", t), frames.back());
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  take_over(ids[0]);
  fenced = Publish(*second, Id("app.db", 6, "zombie"), Bytes(100, 6));  // first id again
  ASSERT_FALSE(fenced.ok());
  EXPECT_EQ(fenced.status().code(), Status::Code::kConflict) << fenced.status().ToString();
  EXPECT_THAT(fenced.status().message(), HasSubstr("'" + ids[0] + "'"));

  auto sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kBeginning});
  ASSERT_NE(sub, nullptr);
  ExpectFrames(*sub, frames);
}

// A publisher starts a Kafka transaction no sooner than transaction-gap-ms
// after the last one on the same transactional id ended, and after a busy
// one (a backlog of 16 frames or more) no sooner than that after it, on
// either id (NextTransactionAt); frames published back to back still arrive
// whole and in order.
TEST_F(KafkaBusTest, BackToBackFramesWaitTheTransactionGap) {
  auto bus = Connect("?transaction-gap-ms=40");
  ASSERT_NE(bus, nullptr);
  auto pub = OpenPublisher(*bus, "app.db");
  ASSERT_NE(pub, nullptr);
  std::vector<std::string> frames = {Bytes(100, 1)};
  ASSERT_TRUE(Publish(*pub, Id("app.db", 1), frames.back()).ok());
  const auto start = steady_clock::now();
  for (ltx::TXID t = 2; t <= 6; t++) {
    frames.push_back(Bytes(100 * t, static_cast<uint32_t>(t)));
    auto sent = Publish(*pub, Id("app.db", t), frames.back());
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  const auto took = std::chrono::duration_cast<Millis>(steady_clock::now() - start);
  // The transactions alternate between the publisher's two transactional
  // ids; each id waits the gap after its own last transaction, so TXIDs 3
  // and 5 (like 4 and 6) start at least 40 ms after each other.
  EXPECT_GE(took.count(), 2 * 40) << "TXID 6 starts no sooner than 80 ms after TXID 2";

  // A busy transaction: the next one, on the other id (whose last one ended
  // before this began), still waits the gap after it.
  ASSERT_TRUE(pub->BeginBatch().ok());
  for (ltx::TXID t = 7; t <= 22; t++) {
    frames.push_back(Bytes(10 * t, static_cast<uint32_t>(t)));
    ASSERT_TRUE(Publish(*pub, Id("app.db", t), frames.back()).ok());
  }
  ASSERT_TRUE(pub->EndBatch().ok());
  const auto batch_end = steady_clock::now();
  frames.push_back(Bytes(100, 23));
  ASSERT_TRUE(Publish(*pub, Id("app.db", 23), frames.back()).ok());
  EXPECT_GE(std::chrono::duration_cast<Millis>(steady_clock::now() - batch_end).count(), 40)
      << "the frame after a 16-frame batch waits the gap";

  auto sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kBeginning});
  ASSERT_NE(sub, nullptr);
  ExpectFrames(*sub, frames);

  // Out of range: refused, not clamped.
  auto endpoint = Endpoint::Parse("kafka://127.0.0.1:9092/t?transaction-gap-ms=5000");
  ASSERT_TRUE(endpoint.ok());
  auto settings = kafka::KafkaSettings::FromEndpoint(*endpoint);
  ASSERT_FALSE(settings.ok());
  EXPECT_EQ(settings.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(settings.status().message(), HasSubstr("transaction-gap-ms"));
}

// A batch is one Kafka transaction of many frames: all of them become
// visible at EndBatch, each its own frame; a batch with a failed frame is
// aborted whole and stays invisible; a fenced batch fails with Conflict.
TEST_F(KafkaBusTest, ABatchIsOneTransactionOfManyFrames) {
  auto bus = Connect("?transactional-id-prefix=batch-");
  ASSERT_NE(bus, nullptr);
  auto pub = OpenPublisher(*bus, "app.db", nullptr, 1000);
  ASSERT_NE(pub, nullptr);
  std::vector<std::string> payloads;
  ASSERT_TRUE(pub->BeginBatch().ok());
  for (ltx::TXID t = 1; t <= 300; t++) {
    payloads.push_back(Bytes(t % 50 == 0 ? 4500 : 10 + t, static_cast<uint32_t>(t)));
    auto sent = Publish(*pub, Id("app.db", t), payloads.back());
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  auto end = pub->EndBatch();
  ASSERT_TRUE(end.ok()) << end.status().ToString();

  // A newer publisher fences the first: its next batch fails, invisible.
  std::optional<LastFrame> last;
  auto second = OpenPublisher(*bus, "app.db", &last, 1000);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, Id("app.db", 300));
  Status fenced = pub->BeginBatch();
  if (fenced.ok()) {
    auto r = Publish(*pub, Id("app.db", 301, "zombie"), Bytes(100, 10));
    fenced = r.ok() ? pub->EndBatch().status() : r.status();
  }
  EXPECT_EQ(fenced.code(), Status::Code::kConflict) << fenced.ToString();

  // A batch whose last frame is aborted: none of its frames may show.
  ASSERT_TRUE(second->BeginBatch().ok());
  ASSERT_TRUE(Publish(*second, Id("app.db", 301, "lost"), Bytes(100, 7)).ok());
  auto w = second->BeginFrame(Id("app.db", 302, "lost"));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(AppendAll(**w, Bytes(2500, 8)).ok());
  (*w)->Abort();
  EXPECT_FALSE(second->EndBatch().ok());

  auto third = OpenPublisher(*bus, "app.db", &last, 1000);
  ASSERT_NE(third, nullptr);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, Id("app.db", 300));
  ASSERT_TRUE(third->BeginBatch().ok());
  ASSERT_TRUE(Publish(*third, Id("app.db", 301), Bytes(100, 9)).ok());
  ASSERT_TRUE(third->EndBatch().ok());

  auto sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kBeginning});
  ASSERT_NE(sub, nullptr);
  std::vector<std::string> drops;
  auto frames =
      Assemble(ReadChunksUntil(*sub, [](const Chunk& c) { return IsLastOf(c, 301); }), &drops);
  EXPECT_THAT(drops, ::testing::IsEmpty());
  ASSERT_EQ(frames.size(), 301u);
  for (size_t i = 0; i < 300; i++) {
    EXPECT_EQ(frames[i].id(), Id("app.db", i + 1));
    EXPECT_TRUE(*frames[i].ReadAll() == payloads[i]) << "frame " << i + 1;
  }
  EXPECT_EQ(frames[300].id(), Id("app.db", 301));
}

// (4) Subscriptions from an offset, a time, and the end deliver exactly the
// expected chunks; an offset the broker does not have is NotFound.
TEST_F(KafkaBusTest, SubscribesFromOffsetTimeAndEnd) {
  auto bus = Connect();
  ASSERT_NE(bus, nullptr);
  auto pub = OpenPublisher(*bus, "app.db", nullptr, 1000);
  ASSERT_NE(pub, nullptr);
  auto now_ms = [] {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  int64_t split_ms = 0;
  for (ltx::TXID t = 1; t <= 6; t++) {
    if (t == 4) {
      // Message timestamps are the producer's clock in ms: keep clear of
      // the split on both sides.
      std::this_thread::sleep_for(Millis(30));
      split_ms = now_ms();
      std::this_thread::sleep_for(Millis(30));
    }
    ASSERT_TRUE(Publish(*pub, Id("app.db", t), Bytes(2500, static_cast<uint32_t>(t))).ok());
  }
  auto all_sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kBeginning});
  ASSERT_NE(all_sub, nullptr);
  auto all = ReadChunksUntil(*all_sub, [](const Chunk& c) { return IsLastOf(c, 6); });
  ASSERT_EQ(all.size(), 18u);  // 3 chunks per frame
  auto offsets_from = [&](size_t first) {
    std::vector<uint64_t> out;
    for (size_t i = first; i < all.size(); i++) out.push_back(all[i].offset);
    return out;
  };
  auto offsets_of = [](const std::vector<Chunk>& chunks) {
    std::vector<uint64_t> out;
    for (const Chunk& c : chunks) out.push_back(c.offset);
    return out;
  };
  auto expect_quiet = [](Subscriber& sub) {
    auto next = sub.Next(Millis(300));
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_FALSE(next->has_value()) << "unexpected chunk at offset " << (*next)->offset;
  };

  // From the first chunk of frame 3, and from the middle of frame 5.
  for (size_t first : {size_t{6}, size_t{13}}) {
    auto sub = Subscribe(*bus, "app.db", {StartPosition::Kind::kOffset, all[first].offset});
    ASSERT_NE(sub, nullptr);
    auto got = ReadChunksUntil(*sub, [](const Chunk& c) { return IsLastOf(c, 6); });
    EXPECT_EQ(offsets_of(got), offsets_from(first));
    expect_quiet(*sub);
  }
  // From a time: the first chunk of frame 4 is the first stored after it.
  StartPosition at_time{StartPosition::Kind::kTime};
  at_time.time_ms = split_ms;
  auto by_time = Subscribe(*bus, "app.db", at_time);
  ASSERT_NE(by_time, nullptr);
  auto got = ReadChunksUntil(*by_time, [](const Chunk& c) { return IsLastOf(c, 6); });
  EXPECT_EQ(offsets_of(got), offsets_from(9));
  EXPECT_EQ(got.front().headers.frame.max_txid, 4u);
  EXPECT_EQ(got.front().headers.index, 0u);
  EXPECT_GE(got.front().bus_time_ms, split_ms);
  EXPECT_LT(all[8].bus_time_ms, split_ms);

  // From the end, from a time after every message, and from the offset
  // after the last chunk (a follower resuming; that offset holds the
  // transaction's commit marker): only new frames.
  StartPosition future{StartPosition::Kind::kTime};
  future.time_ms = now_ms() + 3600000;
  auto at_end = Subscribe(*bus, "app.db", {StartPosition::Kind::kEnd});
  auto after_all = Subscribe(*bus, "app.db", future);
  auto resumed = Subscribe(*bus, "app.db", {StartPosition::Kind::kOffset, all.back().offset + 1});
  ASSERT_NE(at_end, nullptr);
  ASSERT_NE(after_all, nullptr);
  ASSERT_NE(resumed, nullptr);
  expect_quiet(*at_end);
  expect_quiet(*after_all);
  expect_quiet(*resumed);
  auto seventh = Publish(*pub, Id("app.db", 7), Bytes(10, 7));
  ASSERT_TRUE(seventh.ok());
  EXPECT_EQ(*seventh, all.back().offset + 2) << "one commit marker between frames";
  for (Subscriber* s : {at_end.get(), after_all.get(), resumed.get()}) {
    auto chunks = ReadChunksUntil(*s, [](const Chunk& c) { return IsLastOf(c, 7); });
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].offset, *seventh);
  }

  // Past the end: an error, not a silent jump.
  auto beyond = Subscribe(*bus, "app.db", {StartPosition::Kind::kOffset, *seventh + 1000});
  ASSERT_NE(beyond, nullptr);
  Status st;
  for (auto deadline = steady_clock::now() + kWait; st.ok() && steady_clock::now() < deadline;) {
    st = beyond->Next(Millis(500)).status();
  }
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.ToString();
}

// The topic is created with the configured partitions (not the broker's
// auto-create default), databases map to partitions as Java's murmur2
// partitioner maps keys, and each subscriber sees its own database only.
TEST_F(KafkaBusTest, CreatesTopicWithPartitionsAndPartitionsByMurmur2) {
  auto bus = Connect("?partitions=3");
  ASSERT_NE(bus, nullptr);
  // Java's Utils.murmur2 test vectors, and librdkafka's Java-compatible
  // partitioner.
  EXPECT_EQ(static_cast<int32_t>(kafka::Murmur2("21")), -973932308);
  EXPECT_EQ(static_cast<int32_t>(kafka::Murmur2("foobar")), -790332482);
  EXPECT_EQ(static_cast<int32_t>(kafka::Murmur2("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(static_cast<int32_t>(kafka::Murmur2("a-little-bit-longer-string")), -1486304829);
  for (std::string db : {"a.db", "b.db", "app.db", "x", "", "ümlaut.db"}) {
    for (int32_t n : {1, 3, 7}) {
      EXPECT_EQ(
          kafka::PartitionForDatabase(db, n),
          rd_kafka_msg_partitioner_murmur2(nullptr, db.data(), db.size(), n, nullptr, nullptr));
    }
  }
  // The broker agrees there are three partitions.
  auto endpoint = Endpoint::Parse(
      fmt::format("kafka://{}/{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), topic_));
  ASSERT_TRUE(endpoint.ok());
  auto settings = kafka::KafkaSettings::FromEndpoint(*endpoint);
  ASSERT_TRUE(settings.ok());
  auto client = kafka::NewClient(*settings, RD_KAFKA_PRODUCER, {});
  ASSERT_TRUE(client.ok());
  kafka::RdPtr<rd_kafka_topic_t> rkt(rd_kafka_topic_new(client->get(), topic_.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  ASSERT_EQ(rd_kafka_metadata(client->get(), 0, rkt.get(), &raw, 10000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  kafka::RdPtr<const rd_kafka_metadata_t> md(raw);
  ASSERT_EQ(md->topic_cnt, 1);
  EXPECT_EQ(md->topics[0].partition_cnt, 3);

  // Two databases on different partitions, each read back alone.
  const std::string a = "a.db", b = "app.db";
  ASSERT_NE(kafka::PartitionForDatabase(a, 3), kafka::PartitionForDatabase(b, 3));
  for (const std::string& db : {a, b}) {
    auto pub = OpenPublisher(*bus, db);
    ASSERT_NE(pub, nullptr);
    ASSERT_TRUE(Publish(*pub, Id(db, 1), Bytes(100, 1)).ok());
  }
  for (const std::string& db : {a, b}) {
    auto sub = Subscribe(*bus, db, {StartPosition::Kind::kBeginning});
    ASSERT_NE(sub, nullptr);
    auto chunks = ReadChunksUntil(*sub, [](const Chunk& c) { return IsLastOf(c, 1); });
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].headers.frame.database, db);
    EXPECT_EQ(chunks[0].offset, 0u) << "alone on its partition";
  }

  // An existing topic is used as it is; a missing one with create=false is not made.
  auto reconnect = ConnectKafka(*Endpoint::Parse(fmt::format(
      "kafka://{}/{}?create=false", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), topic_)));
  EXPECT_TRUE(reconnect.ok()) << reconnect.status().ToString();
  auto missing = ConnectKafka(*Endpoint::Parse(fmt::format(
      "kafka://{}/{}-missing?create=false", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), topic_)));
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound) << missing.status().ToString();
  auto typo = ConnectKafka(*Endpoint::Parse(
      fmt::format("kafka://{}/{}?partiton=3", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), topic_)));
  EXPECT_EQ(typo.status().code(), Status::Code::kInvalidArgument) << typo.status().ToString();
  // A topic the broker refuses to create: its reason, not a timeout.
  auto refused = ConnectKafka(*Endpoint::Parse(fmt::format(
      "kafka://{}/{}-r3?replication=3", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), topic_)));
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument) << refused.status().ToString();
  EXPECT_THAT(refused.status().message(), HasSubstr("replication factor"));
  PublisherOptions huge;
  huge.chunk_size = 2 << 20;
  EXPECT_EQ((*reconnect)->NewPublisher("a.db", huge).status().code(),
            Status::Code::kInvalidArgument);
}

// (5) A closed port fails with Unavailable or Timeout within the configured
// timeout (no broker needed).
TEST(KafkaBusUnreachableTest, ClosedPortFailsWithinTimeout) {
  QuietLogs logs;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  close(fd);  // bound, never listened: nothing accepts on it

  auto endpoint = Endpoint::Parse(fmt::format("kafka://127.0.0.1:{}/frames?timeout-ms=1500", port));
  ASSERT_TRUE(endpoint.ok());
  const auto start = steady_clock::now();
  auto bus = ConnectKafka(*endpoint);
  const auto elapsed = std::chrono::duration_cast<Millis>(steady_clock::now() - start);
  ASSERT_FALSE(bus.ok());
  EXPECT_TRUE(bus.status().code() == Status::Code::kUnavailable ||
              bus.status().code() == Status::Code::kTimeout)
      << bus.status().ToString();
  EXPECT_THAT(bus.status().message(), HasSubstr(fmt::format("127.0.0.1:{}", port)));
  EXPECT_LT(elapsed.count(), 1500 + 1000) << bus.status().ToString();
}

}  // namespace
}  // namespace ltxbus::bus
