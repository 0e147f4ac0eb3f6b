// Helpers shared by the NATS bus integration tests (tests/integration/
// nats_bus_test.cc and bus/nats/nats_outage_test.cc): frames of random bytes,
// publishing and draining them, and a fixture with a real nats-server.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bus/assembler.h"
#include "bus/nats/nats_bus.h"
#include "bus/nats/nats_internal.h"
#include "tests/support/testbed.h"

namespace ltxbus::bus::testing {

using ::ltxbus::testing::ServerKind;
using ::ltxbus::testing::ServerTest;
using Clock = std::chrono::steady_clock;

constexpr Millis kIdle{300};  // "nothing more is coming" after the expected data

inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline FrameId Id(const std::string& db, ltx::TXID txid) {
  FrameId id;
  id.database = db;
  id.min_txid = txid;
  id.max_txid = txid;
  id.timestamp_ms = 1'700'000'000'000 + static_cast<int64_t>(txid);
  id.pre_apply = txid * 11;
  return id;
}

inline FrameTrailer Trailer(ltx::TXID txid, uint64_t size) {
  FrameTrailer t;
  t.frame_size = size;
  t.post_apply = (txid + 1) * 11;
  t.wal = WalPosition{0x1234, 0x5678, txid * 3 + 1, static_cast<uint32_t>(txid), 0xabcdef};
  return t;
}

// Appends `payload` in uneven pieces (as an encoder would) and commits.
inline Result<uint64_t> PublishFrame(Publisher& pub, const FrameId& id,
                                     const std::string& payload) {
  LTXBUS_ASSIGN_OR_RETURN(auto w, pub.BeginFrame(id));
  size_t pos = 0, piece = 1000;
  while (pos < payload.size()) {
    const size_t n = std::min(piece, payload.size() - pos);
    LTXBUS_RETURN_IF_ERROR(w->Append(AsBytes(std::string_view(payload).substr(pos, n))));
    pos += n;
    piece = piece * 3 % 300'007 + 1;
  }
  return w->Commit(Trailer(id.max_txid, payload.size()));
}

struct Received {
  std::vector<Frame> frames;
  std::vector<Chunk> chunks;  // payloads cleared
  std::vector<std::string> drops;
};

// Reads until `want` frames are complete (or `deadline_after` passes), then
// until the subscriber has been idle for kIdle, so extra frames show up.
inline Received Drain(Subscriber& sub, size_t want, Millis deadline_after = Millis(20000)) {
  Received r;
  FrameAssembler assembler(1 << 20, [&](const std::string& why) { r.drops.push_back(why); });
  const auto deadline = Clock::now() + deadline_after;
  while (Clock::now() < deadline) {
    auto next = sub.Next(r.frames.size() < want ? Millis(1000) : kIdle);
    EXPECT_TRUE(next.ok()) << next.status().ToString();
    if (!next.ok()) break;
    if (!next->has_value()) {
      if (r.frames.size() >= want) break;
      continue;
    }
    Chunk c = std::move(**next);
    Chunk meta = c;
    meta.payload.clear();
    r.chunks.push_back(std::move(meta));
    auto frame = assembler.Add(std::move(c));
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    if (frame.ok() && frame->has_value()) r.frames.push_back(std::move(**frame));
  }
  return r;
}

class NatsBusTest : public ServerTest<ServerKind::kNats> {
 protected:
  std::string Url(const std::string& stream, const std::string& query = "") {
    return env(ServerKind::kNats, "NATS_URL") + "/" + stream + query;
  }
  std::unique_ptr<Bus> Connect(const std::string& stream, const std::string& query = "") {
    auto ep = Endpoint::Parse(Url(stream, query));
    EXPECT_TRUE(ep.ok()) << ep.status().ToString();
    auto bus = ConnectNats(*ep);
    EXPECT_TRUE(bus.ok()) << bus.status().ToString();
    return bus.ok() ? std::move(bus).value() : nullptr;
  }
  // A raw connection for what the Bus API does not do (inspecting the stream,
  // publishing by hand).
  std::shared_ptr<nats::Connection> Raw(const std::string& stream, const std::string& query = "") {
    auto ep = Endpoint::Parse(Url(stream, query));
    EXPECT_TRUE(ep.ok());
    auto settings = NatsSettings::FromEndpoint(*ep);
    EXPECT_TRUE(settings.ok());
    auto conn = nats::Connection::Open(*ep, *settings);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return conn.ok() ? std::move(conn).value() : nullptr;
  }
  static std::unique_ptr<Publisher> NewPublisher(Bus& bus, const std::string& db,
                                                 const std::string& producer,
                                                 size_t chunk_size = 512 * 1024) {
    PublisherOptions o;
    o.producer = producer;
    o.chunk_size = chunk_size;
    o.ack_timeout = Millis(10000);
    auto p = bus.NewPublisher(db, o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  static std::unique_ptr<Subscriber> Subscribe(Bus& bus, const std::string& db,
                                               StartPosition start = {}) {
    auto s = bus.Subscribe(db, start);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
};

// Publishes `headers` + `payload` by hand, as a producer whose ack got lost
// would have; returns the ack.
inline Result<std::pair<uint64_t, bool>> RawPublish(nats::Connection& conn,
                                                    const std::string& subject,
                                                    const ChunkHeaders& h,
                                                    const std::string& payload,
                                                    const std::string& msg_id) {
  natsMsg* raw = nullptr;
  if (natsMsg_Create(&raw, subject.c_str(), nullptr, payload.data(),
                     static_cast<int>(payload.size())) != NATS_OK) {
    return Status::Internal("natsMsg_Create");
  }
  nats::MsgPtr msg(raw);
  for (const auto& [k, v] : h.Encode()) natsMsgHeader_Set(msg.get(), k.c_str(), v.c_str());
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  po.ExpectNoMessage = true;
  jsPubAck* raw_ack = nullptr;
  jsErrCode jerr{};
  natsStatus s = js_PublishMsg(&raw_ack, conn.js(), msg.get(), &po, &jerr);
  nats::PubAckPtr ack(raw_ack);
  if (s != NATS_OK) return nats::FromNats(s, "raw publish", jerr);
  return std::pair{ack->Sequence, ack->Duplicate};
}

}  // namespace ltxbus::bus::testing
