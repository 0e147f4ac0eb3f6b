// Test helpers for the consumer API's unit tests: frames built from LTX
// files, publishing them to a MemoryBus, and ScriptedBus, a fake bus whose
// log a test writes chunk by chunk (bus times, sparse offsets, retention,
// broken frames), which MemoryBus does not model.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/endian.h"
#include "bus/bus.h"
#include "consumer/transaction_stream.h"
#include "tests/support/ltx_builder.h"
#include "tests/support/memory_bus.h"

namespace ltxbus::consumer::testing {

using ::ltxbus::testing::Pages;

// The bus identity of an LTX file, from its header and trailer.
inline std::pair<bus::FrameId, bus::FrameTrailer> FrameOf(const std::string& db,
                                                          const std::string& ltx_bytes) {
  auto h = ltx::Header::Decode(
      std::span<const uint8_t, ltx::kHeaderSize>(AsBytes(ltx_bytes).first<ltx::kHeaderSize>()));
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  bus::FrameId id;
  id.database = db;
  id.min_txid = h->min_txid;
  id.max_txid = h->max_txid;
  id.timestamp_ms = h->timestamp_ms;
  id.pre_apply = h->pre_apply_checksum;
  id.producer = "test/1/1";
  bus::FrameTrailer t;
  t.frame_size = ltx_bytes.size();
  t.post_apply = LoadBE64(AsBytes(ltx_bytes).data() + ltx_bytes.size() - ltx::kTrailerSize);
  return {id, t};
}

// Publishes LTX files through a MemoryBus publisher, `chunk_size` bytes a
// message; returns each frame's last offset.
inline std::vector<uint64_t> Publish(::ltxbus::testing::MemoryBus& bus, const std::string& db,
                                     const std::vector<std::string>& files,
                                     size_t chunk_size = 1500) {
  bus::PublisherOptions po;
  po.producer = "test/1/1";
  po.chunk_size = chunk_size;
  auto pub = bus.NewPublisher(db, po);
  EXPECT_TRUE(pub.ok());
  EXPECT_TRUE((*pub)->Open().ok());
  std::vector<uint64_t> offsets;
  for (const auto& f : files) {
    auto [id, trailer] = FrameOf(db, f);
    auto w = (*pub)->BeginFrame(id);
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE((*w)->Append(AsBytes(f)).ok());
    auto off = (*w)->Commit(trailer);
    EXPECT_TRUE(off.ok()) << off.status().ToString();
    offsets.push_back(off.ok() ? *off : 0);
  }
  return offsets;
}

// Applies a transaction's pages to an in-memory database image.
inline void ApplyTo(const Transaction& tx, Pages* db) {
  if (tx.snapshot()) db->clear();
  PageReader r = tx.ReadPages();
  uint32_t pgno = 0;
  std::span<const uint8_t> data;
  for (;;) {
    auto more = r.Next(&pgno, &data);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    (*db)[pgno].assign(data.begin(), data.end());
  }
  while (!db->empty() && db->rbegin()->first > tx.header().commit) db->erase(std::prev(db->end()));
}

// Reads a stream until it finishes (or `limit` transactions), failing the
// test on errors unless `errors` collects them.
inline std::vector<Transaction> Drain(TransactionStream& s, size_t limit = 100000,
                                      std::vector<Status>* errors = nullptr) {
  std::vector<Transaction> out;
  for (int idle = 0; !s.finished() && out.size() < limit && idle < 3;) {
    auto tx = s.Next(bus::Millis(10));
    if (!tx.ok()) {
      if (errors == nullptr) {
        ADD_FAILURE() << tx.status().ToString();
        break;
      }
      errors->push_back(tx.status());
      continue;
    }
    if (!tx->has_value()) {
      idle++;
      continue;
    }
    out.push_back(std::move(**tx));
  }
  return out;
}

inline std::vector<ltx::TXID> Txids(const std::vector<Transaction>& txs) {
  std::vector<ltx::TXID> out;
  for (const auto& t : txs) out.push_back(t.txid());
  return out;
}

// A bus whose one database log the test writes directly.
class ScriptedBus final : public bus::Bus {
 public:
  // Appends `ltx_bytes` as a frame in chunks of `chunk_size`, the first at
  // `offset` (then consecutive), all stored at `time_ms`. `complete` false
  // leaves the last chunk out (a producer that died mid-frame).
  void AddFrame(const std::string& db, const std::string& ltx_bytes, uint64_t offset,
                int64_t time_ms, size_t chunk_size = 1000, const std::string& attempt = "a",
                bool complete = true) {
    auto [id, trailer] = FrameOf(db, ltx_bytes);
    id.attempt = attempt;
    const size_t n = std::max<size_t>(1, (ltx_bytes.size() + chunk_size - 1) / chunk_size);
    for (size_t i = 0; i < n; i++) {
      bus::Chunk c;
      c.headers.frame = id;
      c.headers.index = static_cast<uint32_t>(i);
      c.headers.last = i + 1 == n;
      if (c.headers.last) {
        if (!complete) break;
        c.headers.trailer = trailer;
      }
      c.payload = ltx_bytes.substr(i * chunk_size, chunk_size);
      c.offset = offset + i;
      c.bus_time_ms = time_ms;
      log_.push_back(std::move(c));
    }
  }
  // Retention: drops every chunk below `offset`.
  void TruncateBefore(uint64_t offset) {
    std::erase_if(log_, [&](const bus::Chunk& c) { return c.offset < offset; });
  }
  std::vector<bus::Chunk>& log() { return log_; }
  int subscribes() const { return subscribes_; }

  Result<std::unique_ptr<bus::Publisher>> NewPublisher(const std::string&,
                                                       const bus::PublisherOptions&) override {
    return Status::Internal("ScriptedBus has no publisher");
  }
  Result<std::unique_ptr<bus::Subscriber>> Subscribe(const std::string& db,
                                                     const bus::StartPosition& start) override {
    subscribes_++;
    size_t i = 0;
    using K = bus::StartPosition::Kind;
    auto first_if = [&](auto pred) {
      return static_cast<size_t>(std::find_if(log_.begin(), log_.end(), pred) - log_.begin());
    };
    if (start.kind == K::kEnd) i = log_.size();
    if (start.kind == K::kOffset) {
      i = first_if([&](const bus::Chunk& c) { return c.offset >= start.offset; });
    }
    if (start.kind == K::kTime) {
      i = first_if([&](const bus::Chunk& c) { return c.bus_time_ms >= start.time_ms; });
    }
    return std::unique_ptr<bus::Subscriber>(std::make_unique<Sub>(this, db, i));
  }
  Result<std::optional<bus::LastFrame>> ReadLastFrame(const std::string& db) override {
    for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
      if (it->headers.frame.database == db && it->headers.last) {
        return std::optional(bus::LastFrame{it->headers.frame, it->headers.trailer, it->offset});
      }
    }
    return std::optional<bus::LastFrame>();
  }

 private:
  class Sub final : public bus::Subscriber {
   public:
    Sub(ScriptedBus* bus, std::string db, size_t next)
        : bus_(bus), db_(std::move(db)), next_(next) {}
    Result<std::optional<bus::Chunk>> Next(bus::Millis) override {
      while (next_ < bus_->log_.size()) {
        const bus::Chunk& c = bus_->log_[next_++];
        if (c.headers.frame.database == db_) return std::optional(c);
      }
      return std::optional<bus::Chunk>();
    }
    Result<uint64_t> HeadOffset() override {
      return bus_->log_.empty() ? 0 : bus_->log_.back().offset + 1;
    }

   private:
    ScriptedBus* bus_;
    std::string db_;
    size_t next_;
  };

  std::vector<bus::Chunk> log_;
  int subscribes_ = 0;
};

}  // namespace ltxbus::consumer::testing
