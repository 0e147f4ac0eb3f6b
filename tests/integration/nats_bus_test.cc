// The NATS JetStream bus against a real nats-server (tests/support/testbed.h):
// chunked publish and reassembly, restart after a crash mid-frame, fencing of
// a second producer, de-duplication of a retried chunk, subscribing from an
// offset or a time, and stream creation. Outages: bus/nats/nats_outage_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats/nats_test_util.h"

namespace ltxbus::bus::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(NatsBusTest, PublishesFramesOfAssortedSizesAndReassemblesThem) {
  auto bus = Connect("ASSORTED");
  ASSERT_NE(bus, nullptr);
  auto pub = NewPublisher(*bus, "main.db", "test/1/1");
  ASSERT_NE(pub, nullptr);
  auto opened = pub->Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_FALSE(opened->has_value());

  constexpr size_t kChunk = 512 * 1024;
  std::mt19937 rng(7);
  std::vector<std::string> payloads;
  for (int i = 0; i < 200; i++) {
    size_t size = 1 + rng() % 20000;
    if (i == 10) size = 1;
    if (i == 50) size = kChunk;  // exactly one full chunk
    if (i == 51) size = kChunk + 1;
    if (i == 52) size = 2 * kChunk;
    if (i == 100) size = 6 * 1024 * 1024 + 12345;  // many chunks
    payloads.push_back(RandomBytes(size, static_cast<uint64_t>(i)));
  }
  std::vector<uint64_t> commit_offsets;
  for (size_t i = 0; i < payloads.size(); i++) {
    auto off = PublishFrame(*pub, Id("main.db", i + 1), payloads[i]);
    ASSERT_TRUE(off.ok()) << "frame " << i + 1 << ": " << off.status().ToString();
    commit_offsets.push_back(*off);
  }

  auto sub = Subscribe(*bus, "main.db");
  ASSERT_NE(sub, nullptr);
  Received r = Drain(*sub, payloads.size());
  ASSERT_EQ(r.frames.size(), payloads.size());
  EXPECT_TRUE(r.drops.empty()) << r.drops.front();
  uint64_t prev_last = 0;
  for (size_t i = 0; i < r.frames.size(); i++) {
    const Frame& f = r.frames[i];
    SCOPED_TRACE(fmt::format("frame {}", i + 1));
    EXPECT_EQ(f.id().max_txid, i + 1);
    EXPECT_EQ(f.id().producer, "test/1/1");
    EXPECT_EQ(f.id().pre_apply, (i + 1) * 11);
    EXPECT_EQ(f.trailer().wal, Trailer(i + 1, 0).wal);
    EXPECT_GT(f.first_offset(), prev_last);
    EXPECT_GE(f.last_offset(), f.first_offset());
    EXPECT_EQ(f.last_offset(), commit_offsets[i]);
    EXPECT_GT(f.bus_time_ms(), 0);
    prev_last = f.last_offset();
    auto bytes = f.ReadAll();
    ASSERT_TRUE(bytes.ok());
    EXPECT_TRUE(*bytes == payloads[i])
        << "payload differs, size " << bytes->size() << " vs " << payloads[i].size();
  }
  // Chunks never exceed the chunk size; the big frame is split across many.
  size_t big_chunks = 0;
  uint64_t prev_offset = 0;
  for (const Chunk& c : r.chunks) {
    EXPECT_GT(c.offset, prev_offset);
    prev_offset = c.offset;
    if (c.headers.frame.max_txid == 101) big_chunks++;
  }
  EXPECT_EQ(big_chunks, (payloads[100].size() + kChunk - 1) / kChunk);
  EXPECT_EQ(r.chunks.size(), 200 + 12 + 0 + 1 + 1);  // 1 chunk each; 53: 2; 101: 13
  auto head = sub->HeadOffset();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, commit_offsets.back() + 1);
}

TEST_F(NatsBusTest, ChunksStayBelowTheServersMaxPayload) {
  auto bus = Connect("BIGCHUNK");
  ASSERT_NE(bus, nullptr);
  // Asks for 8 MiB chunks; the server allows 1 MiB messages.
  auto pub = NewPublisher(*bus, "db", "test/1/1", 8 << 20);
  ASSERT_TRUE(pub->Open().ok());
  const std::string payload = RandomBytes(3 << 20, 3);
  auto off = PublishFrame(*pub, Id("db", 1), payload);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  auto sub = Subscribe(*bus, "db");
  Received r = Drain(*sub, 1);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_TRUE(*r.frames[0].ReadAll() == payload);
  EXPECT_EQ(r.chunks.size(), 4u);  // 3 MiB in chunks just under 1 MiB
}

TEST_F(NatsBusTest, RestartFindsLastCompleteFrameAndRepublishesAfterACrash) {
  auto bus = Connect("RESTART");
  ASSERT_NE(bus, nullptr);
  const std::string db = "app.db";
  constexpr size_t kChunk = 4096;
  std::vector<std::string> payloads;
  for (size_t i = 0; i < 5; i++) payloads.push_back(RandomBytes(3 * kChunk + 100 * i, 100 + i));
  uint64_t txid3_offset = 0;
  {
    auto pub = NewPublisher(*bus, db, "first/1/1", kChunk);
    auto early = pub->BeginFrame(Id(db, 1));
    ASSERT_FALSE(early.ok()) << "began a frame before Open()";
    EXPECT_EQ(early.status().code(), Status::Code::kInvalidArgument);
    ASSERT_TRUE(pub->Open().ok());
    for (ltx::TXID t = 1; t <= 3; t++) {
      auto off = PublishFrame(*pub, Id(db, t), payloads[t - 1]);
      ASSERT_TRUE(off.ok()) << off.status().ToString();
      txid3_offset = *off;
    }
  }
  // Two producers in a row die mid-frame: chunks 0..1 of TXID 4, then chunk 0.
  std::vector<std::string> crashed_attempts;
  for (size_t crashed_bytes : {2 * kChunk + 10, kChunk + 1}) {
    auto pub = NewPublisher(*bus, db, fmt::format("crash/{}/1", crashed_bytes), kChunk);
    auto last = pub->Open();
    ASSERT_TRUE(last.ok()) << last.status().ToString();
    ASSERT_TRUE(last->has_value());
    EXPECT_EQ((*last)->id.max_txid, 3u);
    auto w = pub->BeginFrame(Id(db, 4));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(AsBytes(std::string_view(payloads[3]).substr(0, crashed_bytes))).ok());
    w->reset();  // no Commit: the process "died"
  }

  auto pub = NewPublisher(*bus, db, "third/1/1", kChunk);
  auto last = pub->Open();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->id.max_txid, 3u);
  EXPECT_EQ((*last)->id.producer, "first/1/1");
  EXPECT_EQ((*last)->id.pre_apply, 33u);
  EXPECT_EQ((*last)->offset, txid3_offset);
  EXPECT_EQ((*last)->trailer.frame_size, payloads[2].size());
  EXPECT_EQ((*last)->trailer.post_apply, 44u);
  EXPECT_EQ((*last)->trailer.wal, Trailer(3, 0).wal);
  // An aborted frame leaves no complete frame either.
  {
    auto w = pub->BeginFrame(Id(db, 4));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(AsBytes(payloads[3].substr(0, kChunk + 5))).ok());
    (*w)->Abort();
    EXPECT_FALSE((*w)->Append(AsBytes("x")).ok());
  }
  ASSERT_TRUE(PublishFrame(*pub, Id(db, 4), payloads[3]).ok());
  ASSERT_TRUE(PublishFrame(*pub, Id(db, 5), payloads[4]).ok());

  auto again = NewPublisher(*bus, db, "fourth/1/1", kChunk)->Open();
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->id.max_txid, 5u);

  auto sub = Subscribe(*bus, db);
  Received r = Drain(*sub, 5);
  ASSERT_EQ(r.frames.size(), 5u);
  for (size_t i = 0; i < 5; i++) {
    EXPECT_EQ(r.frames[i].id().max_txid, i + 1);
    EXPECT_TRUE(*r.frames[i].ReadAll() == payloads[i]) << "frame " << i + 1;
  }
  EXPECT_EQ(r.frames[3].id().producer, "third/1/1");
  EXPECT_EQ(r.drops.size(), 3u);  // two crashed attempts and the aborted one
  // Every attempt at TXID 4 had its own attempt id.
  std::set<std::string> attempts;
  for (const Chunk& c : r.chunks) {
    if (c.headers.frame.max_txid == 4 && c.headers.index == 0) {
      attempts.insert(c.headers.frame.attempt);
    }
  }
  EXPECT_EQ(attempts.size(), 4u);
}

TEST_F(NatsBusTest, SecondProducerFencesTheFirst) {
  auto bus = Connect("FENCE");
  ASSERT_NE(bus, nullptr);
  const std::string db = "shared.db";
  constexpr size_t kChunk = 4096;
  const std::string payload = RandomBytes(3 * kChunk, 9);

  auto p1 = NewPublisher(*bus, db, "p1/1/1", kChunk);
  ASSERT_TRUE(p1->Open().ok());
  ASSERT_TRUE(PublishFrame(*p1, Id(db, 1), payload).ok());
  auto p2 = NewPublisher(*bus, db, "p2/2/2", kChunk);
  ASSERT_TRUE(p2->Open().ok());
  ASSERT_TRUE(PublishFrame(*p2, Id(db, 2), payload).ok());

  // p1 published second-to-last: its next publish is fenced, and stays so.
  auto fenced = PublishFrame(*p1, Id(db, 2), payload);
  ASSERT_FALSE(fenced.ok());
  EXPECT_EQ(fenced.status().code(), Status::Code::kConflict) << fenced.status().ToString();
  EXPECT_THAT(fenced.status().message(), HasSubstr("database shared.db"));
  EXPECT_THAT(fenced.status().message(), HasSubstr("fence.shared%2Edb"));
  EXPECT_THAT(fenced.status().message(), HasSubstr("p2/2/2"));
  auto again = p1->BeginFrame(Id(db, 3));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kConflict);

  // Taken over mid-frame: p2 has two chunks of TXID 3 out when p3 opens.
  auto w2 = p2->BeginFrame(Id(db, 3));
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE((*w2)->Append(AsBytes(payload.substr(0, 2 * kChunk + 1))).ok());
  auto p3 = NewPublisher(*bus, db, "p3/3/3", kChunk);
  auto p3_last = p3->Open();
  ASSERT_TRUE(p3_last.ok() && p3_last->has_value());
  EXPECT_EQ((*p3_last)->id.max_txid, 2u);
  ASSERT_TRUE(PublishFrame(*p3, Id(db, 3), payload).ok());
  Status rest = (*w2)->Append(AsBytes(payload.substr(2 * kChunk + 1)));
  Result<uint64_t> commit = rest.ok() ? (*w2)->Commit(Trailer(3, payload.size())) : rest;
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(commit.status().code(), Status::Code::kConflict) << commit.status().ToString();
  EXPECT_THAT(commit.status().message(), HasSubstr("p3/3/3"));

  // Two producers open together: whoever publishes first wins.
  auto p4 = NewPublisher(*bus, db, "p4/4/4", kChunk);
  auto p5 = NewPublisher(*bus, db, "p5/5/5", kChunk);
  ASSERT_TRUE(p4->Open().ok());
  ASSERT_TRUE(p5->Open().ok());
  ASSERT_TRUE(PublishFrame(*p5, Id(db, 4), payload).ok());
  auto lost = PublishFrame(*p4, Id(db, 4), payload);
  EXPECT_EQ(lost.status().code(), Status::Code::kConflict) << lost.status().ToString();

  // Also on a subject that had nothing when both opened (and other TXIDs, so
  // de-duplication cannot be what stops the second).
  auto e1 = NewPublisher(*bus, "empty.db", "e1/1/1", kChunk);
  auto e2 = NewPublisher(*bus, "empty.db", "e2/2/2", kChunk);
  ASSERT_TRUE(e1->Open().ok());
  ASSERT_TRUE(e2->Open().ok());
  ASSERT_TRUE(PublishFrame(*e1, Id("empty.db", 1), payload).ok());
  auto late = PublishFrame(*e2, Id("empty.db", 7), payload);
  EXPECT_EQ(late.status().code(), Status::Code::kConflict) << late.status().ToString();
  EXPECT_THAT(late.status().message(), HasSubstr("e1/1/1"));

  auto sub = Subscribe(*bus, db);
  Received r = Drain(*sub, 4);
  ASSERT_EQ(r.frames.size(), 4u);
  const char* producers[] = {"p1/1/1", "p2/2/2", "p3/3/3", "p5/5/5"};
  for (size_t i = 0; i < 4; i++) {
    EXPECT_EQ(r.frames[i].id().max_txid, i + 1);
    EXPECT_EQ(r.frames[i].id().producer, producers[i]);
  }
  // Nothing a fenced producer sent got past its first refused chunk.
  for (const Chunk& c : r.chunks) {
    if (c.headers.frame.producer == "p1/1/1") {
      EXPECT_EQ(c.headers.frame.max_txid, 1u);
    }
    EXPECT_NE(c.headers.frame.producer, "p4/4/4");
  }
}

TEST_F(NatsBusTest, ARetriedChunkIsStoredOnce) {
  auto bus = Connect("DEDUPE");
  ASSERT_NE(bus, nullptr);
  auto raw = Raw("DEDUPE");
  ASSERT_NE(raw, nullptr);
  const std::string payload = RandomBytes(1000, 5);
  for (const std::string stored_by : {"me/1/1", "someone-else/2/2"}) {
    SCOPED_TRACE(stored_by);
    const std::string db = "db-" + stored_by.substr(0, 2);
    auto pub = NewPublisher(*bus, db, "me/1/1");
    ASSERT_TRUE(pub->Open().ok());
    // Chunk 0 (also the last) of TXID 1 on an empty subject reaches the
    // server, but the publisher never hears back: stored "by hand" here.
    ChunkHeaders h;
    h.frame = Id(db, 1);
    h.frame.producer = stored_by;
    h.frame.attempt = "0";
    h.last = true;
    h.trailer = Trailer(1, payload.size());
    // The Msg-Id our publisher gives that chunk (producer "me/1/1").
    const std::string msg_id = db + ":" + ltx::FormatTXID(1) + ":0:0:me/1/1";
    auto first = RawPublish(*raw, raw->SubjectFor(db), h, payload, msg_id);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_FALSE(first->second);
    // The same Msg-Id again inside the window: acknowledged, not stored.
    auto second = RawPublish(*raw, raw->SubjectFor(db), h, payload, msg_id);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_TRUE(second->second) << "not reported as a duplicate";
    EXPECT_EQ(second->first, first->first);

    // The publisher retries: its own chunk is taken as published; someone
    // else's under the same Msg-Id means another producer is at work.
    auto off = PublishFrame(*pub, Id(db, 1), payload);
    auto sub = Subscribe(*bus, db);
    if (stored_by == "me/1/1") {
      ASSERT_TRUE(off.ok()) << off.status().ToString();
      EXPECT_EQ(*off, first->first);
      ASSERT_TRUE(PublishFrame(*pub, Id(db, 2), payload).ok());
      Received r = Drain(*sub, 2);
      ASSERT_EQ(r.chunks.size(), 2u) << "the retried chunk was stored twice";
      EXPECT_EQ(r.chunks[0].offset, first->first);
      EXPECT_EQ(r.frames.size(), 2u);
    } else {
      ASSERT_FALSE(off.ok());
      EXPECT_EQ(off.status().code(), Status::Code::kConflict) << off.status().ToString();
      Received r = Drain(*sub, 1);
      EXPECT_EQ(r.chunks.size(), 1u);
    }
  }
}

TEST_F(NatsBusTest, SubscribesFromAnOffsetATimeOrTheEnd) {
  auto bus = Connect("POSITIONS");
  ASSERT_NE(bus, nullptr);
  auto a = NewPublisher(*bus, "a", "pa/1/1");
  auto b = NewPublisher(*bus, "b", "pb/1/1");
  ASSERT_TRUE(a->Open().ok());
  ASSERT_TRUE(b->Open().ok());
  std::vector<uint64_t> a_offsets, b_offsets;
  auto now_ms = [] {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  auto sleep_until_ms = [&](int64_t t) {
    if (t > now_ms()) std::this_thread::sleep_for(Millis(t - now_ms()));
  };
  // Frames 1-5 early in a second, 6-10 after an instant less than 100 ms into
  // the same second: a start time whose fraction of a second has leading
  // zeros, with earlier messages in its second, is the case start times get
  // wrong most easily. The server and the test share the clock.
  const int64_t second = (now_ms() / 1000 + 1) * 1000;
  int64_t split_ms = 0;
  for (ltx::TXID t = 1; t <= 10; t++) {
    if (t == 1) sleep_until_ms(second + 10);
    if (t == 6) {
      split_ms = std::max(second + 60, now_ms() + 10);
      sleep_until_ms(split_ms + 20);
    }
    auto oa = PublishFrame(*a, Id("a", t), RandomBytes(100, t));
    auto ob = PublishFrame(*b, Id("b", t), RandomBytes(200, t));
    ASSERT_TRUE(oa.ok() && ob.ok());
    a_offsets.push_back(*oa);
    b_offsets.push_back(*ob);
  }
  auto txids = [](const Received& r) {
    std::vector<ltx::TXID> out;
    for (const Chunk& c : r.chunks) out.push_back(c.headers.frame.max_txid);
    return out;
  };
  using V = std::vector<ltx::TXID>;
  {  // From a's 5th message: exactly a's 5..10, never b's.
    auto sub = Subscribe(*bus, "a", {StartPosition::Kind::kOffset, a_offsets[4], 0});
    Received r = Drain(*sub, 6);
    EXPECT_EQ(txids(r), (V{5, 6, 7, 8, 9, 10}));
    ASSERT_FALSE(r.chunks.empty());
    EXPECT_EQ(r.chunks.front().offset, a_offsets[4]);
  }
  {  // From an offset that is b's: a's next one.
    auto sub = Subscribe(*bus, "a", {StartPosition::Kind::kOffset, b_offsets[6], 0});
    Received r = Drain(*sub, 3);
    EXPECT_EQ(txids(r), (V{8, 9, 10}));
  }
  {  // From a time.
    auto sub = Subscribe(*bus, "b", {StartPosition::Kind::kTime, 0, split_ms});
    Received r = Drain(*sub, 5);
    EXPECT_EQ(txids(r), (V{6, 7, 8, 9, 10}));
    ASSERT_FALSE(r.chunks.empty());
    EXPECT_GE(r.chunks.front().bus_time_ms, split_ms);
  }
  {  // From the end: only what comes next.
    auto sub = Subscribe(*bus, "a", {StartPosition::Kind::kEnd, 0, 0});
    auto none = sub->Next(Millis(0));
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(PublishFrame(*a, Id("a", 11), RandomBytes(10, 11)).ok());
    Received r = Drain(*sub, 1);
    EXPECT_EQ(txids(r), (V{11}));
    ASSERT_FALSE(r.chunks.empty());
    auto head = sub->HeadOffset();
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(*head, r.chunks.back().offset + 1);
  }
  // An empty subject's head is the stream's.
  auto empty = Subscribe(*bus, "nobody");
  auto head = empty->HeadOffset();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  auto raw = Raw("POSITIONS");
  EXPECT_EQ(*head, *raw->StreamLastSeq() + 1);
}

TEST_F(NatsBusTest, CreatesTheStreamFromUrlOptionsAndChecksAnExistingOne) {
  auto bus = Connect("OPTIONS", "?subject-prefix=x.y&max-age=24h&max-bytes=64MiB&duplicates=5m");
  ASSERT_NE(bus, nullptr);
  auto raw = Raw("OPTIONS", "?subject-prefix=x.y");
  ASSERT_NE(raw, nullptr);
  jsStreamInfo* si = nullptr;
  ASSERT_EQ(js_GetStreamInfo(&si, raw->js(), "OPTIONS", nullptr, nullptr), NATS_OK);
  nats::StreamInfoPtr info(si);
  ASSERT_EQ(info->Config->SubjectsLen, 1);
  EXPECT_STREQ(info->Config->Subjects[0], "x.y.>");
  EXPECT_EQ(info->Config->MaxAge, int64_t{24} * 3600 * 1'000'000'000);
  EXPECT_EQ(info->Config->MaxBytes, int64_t{64} << 20);
  EXPECT_EQ(info->Config->Duplicates, int64_t{300} * 1'000'000'000);
  EXPECT_TRUE(info->Config->AllowRollup);
  EXPECT_FALSE(info->Config->DenyDelete);
  EXPECT_FALSE(info->Config->DenyPurge);
  EXPECT_EQ(info->Config->Storage, js_FileStorage);

  // Connecting again uses it as it is; with another prefix it is refused.
  auto again = Connect("OPTIONS", "?subject-prefix=x.y");
  ASSERT_NE(again, nullptr);
  // A retry must stay inside the 5 minute de-duplication window.
  PublisherOptions slow;
  slow.ack_timeout = Millis(6 * 60 * 1000);
  auto too_slow = again->NewPublisher("db", slow);
  EXPECT_EQ(too_slow.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(too_slow.status().message(), HasSubstr("duplicates window"));
  slow.ack_timeout = Millis(4 * 60 * 1000);
  EXPECT_TRUE(again->NewPublisher("db", slow).ok());
  auto ep = Endpoint::Parse(Url("OPTIONS"));
  auto other = ConnectNats(*ep);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("x.y.>"));
  EXPECT_THAT(other.status().message(), HasSubstr("'options.>'"));

  auto missing = ConnectNats(*Endpoint::Parse(Url("MISSING", "?create=false")));
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound) << missing.status().ToString();
  auto typo = ConnectNats(*Endpoint::Parse(Url("OPTIONS", "?max-agee=1h")));
  EXPECT_EQ(typo.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace ltxbus::bus::testing
