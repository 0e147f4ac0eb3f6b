// The consumer API: a database's transactions, read from a bus (Kafka or
// NATS JetStream), whole, verified and in order, from any position.
//
//   LTXBUS_ASSIGN_OR_RETURN(auto bus, bus::Bus::Connect(endpoint));
//   consumer::StreamOptions o;
//   o.start = consumer::StartAt::Txid(42);
//   o.stop = consumer::StopAt::End();
//   LTXBUS_ASSIGN_OR_RETURN(auto stream, consumer::TransactionStream::Open(*bus, "app.db", o));
//   while (!stream->finished()) {
//     LTXBUS_ASSIGN_OR_RETURN(std::optional<consumer::Transaction> tx, stream->Next(1s));
//     if (!tx) continue;  // nothing new within the timeout
//     consumer::PageReader pages = tx->ReadPages();
//     uint32_t pgno;
//     std::span<const uint8_t> data;
//     for (;;) {
//       LTXBUS_ASSIGN_OR_RETURN(bool more, pages.Next(&pgno, &data));
//       if (!more) break;
//       ... use the page ...
//     }
//     LTXBUS_RETURN_IF_ERROR(stream->Ack(tx->position()));
//   }
//
// Contracts (docs/consumer-api.md has the long form):
//  - Open() resolves the start and stop positions against what the bus holds
//    and fails, before anything is delivered, when one cannot be served: the
//    database has nothing on the bus (NotFound), an offset or time is past
//    the end or before what retention kept, a TXID is not on the bus, or the
//    range is empty (InvalidArgument, NotFound).
//  - Next() delivers each transaction once per stream, in TXID order, only
//    whole (every chunk) and, with `verify`, only after its LTX file decoded
//    and verified completely (file checksum, database checksums) and agreed
//    with the bus headers. Re-published and re-delivered frames are skipped.
//  - Continuity is checked: each transaction must start at the previous
//    MaxTXID + 1 with a pre-apply checksum equal to the previous post-apply
//    checksum, or be a snapshot (MinTXID 1: the whole database, which
//    replaces the state). A break is reported once as a Corruption status;
//    the next call delivers the transaction after the break.
//  - Delivery is at-least-once across restarts: Ack() records a position
//    (in the PositionStore, if any) once the caller is done with it; a
//    stream opened with StartAt::After(acked) delivers what follows it, so a
//    transaction processed but not yet acknowledged when the process died is
//    delivered again, with the same TXID. Acknowledging is idempotent:
//    acknowledging a position at or before the last acknowledged one does
//    nothing.
//  - Memory is bounded by `frame_memory_limit` plus one page, whatever the
//    transaction size: larger frames are spooled to an anonymous temporary
//    file and pages are decoded one at a time.
//
// A TransactionStream belongs to one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "bus/bus.h"
#include "consumer/stream_position.h"
#include "ltx/ltx.h"

namespace ltxbus::bus {
class Frame;
}

namespace ltxbus::consumer {

namespace internal {
struct TransactionAccess;  // how the stream builds Transactions (transaction_stream.cc)
}

// Iterates over one transaction's pages in ascending page number, decoding
// one page at a time.
class PageReader {
 public:
  PageReader(PageReader&&) noexcept;
  PageReader& operator=(PageReader&&) noexcept;
  ~PageReader();

  // The next page: its number and its page_size bytes (valid until the next
  // call). False after the last page, once the file's trailer verified.
  Result<bool> Next(uint32_t* pgno, std::span<const uint8_t>* data);

 private:
  friend class Transaction;
  friend struct internal::TransactionAccess;
  struct Impl;
  explicit PageReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One transaction (one LTX frame) as delivered.
class Transaction {
 public:
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) noexcept;
  ~Transaction();

  const std::string& database() const;
  // The LTX header: MinTXID/MaxTXID, page size, Commit (database size in
  // pages afterwards), commit timestamp, pre-apply checksum.
  const ltx::Header& header() const { return header_; }
  ltx::TXID min_txid() const { return header_.min_txid; }
  ltx::TXID txid() const { return header_.max_txid; }
  // A snapshot holds every page: it replaces the database rather than
  // changing it.
  bool snapshot() const { return header_.IsSnapshot(); }
  ltx::Checksum post_apply_checksum() const;
  // Who published it ("host/pid/start-ms").
  const std::string& producer() const;

  const Position& position() const { return position_; }
  // When the bus stored the frame's first and last chunks.
  int64_t first_bus_time_ms() const { return first_bus_time_ms_; }
  int64_t bus_time_ms() const;
  // Size of the LTX file in bytes.
  uint64_t size() const;
  // Pages in the file; 0 unless the stream verifies (StreamOptions::verify).
  uint32_t page_count() const { return page_count_; }

  // A new reader over the pages; may be called more than once.
  PageReader ReadPages() const;
  // The LTX file itself (for writing it out, or applying it).
  std::unique_ptr<SequentialFile> OpenLtx() const;

 private:
  friend struct internal::TransactionAccess;
  Transaction(std::unique_ptr<bus::Frame> frame, ltx::Header header, uint32_t page_count,
              int64_t first_bus_time_ms);
  std::unique_ptr<bus::Frame> frame_;
  ltx::Header header_;
  Position position_;
  uint32_t page_count_ = 0;
  int64_t first_bus_time_ms_ = 0;
};

// Where acknowledged positions survive a restart.
class PositionStore {
 public:
  virtual ~PositionStore() = default;
  // The last saved position; nullopt if none was ever saved.
  virtual Result<std::optional<Position>> Load() = 0;
  virtual Status Save(const Position& position) = 0;
};

// A PositionStore in one small file ("TXID:FIRST:LAST\n"), replaced
// atomically on each Save().
std::unique_ptr<PositionStore> NewFilePositionStore(Env* env, std::string path);

struct StreamOptions {
  StartAt start = StartAt::End();
  StopAt stop = StopAt::Never();
  // Where Ack() saves positions; not owned, may be null.
  PositionStore* positions = nullptr;
  // Frame bytes kept in memory before spooling to a temporary file.
  size_t frame_memory_limit = size_t{8} << 20;
  // Decode and verify each transaction completely before delivering it.
  bool verify = true;
  // How long each bus query made while opening may wait for an answer.
  bus::Millis open_timeout{30000};
  // Told about frames that were skipped (incomplete attempts of a crashed
  // producer, re-deliveries); logged at debug level when unset.
  std::function<void(const std::string&)> on_skip;
};

// What the bus held for a database when a stream opened.
struct StreamBounds {
  // The oldest frame the bus still holds whole (its first chunk retained).
  uint64_t first_offset = 0;  // of its first chunk
  ltx::TXID first_min_txid = 0;
  ltx::TXID first_txid = 0;   // its MaxTXID
  int64_t first_time_ms = 0;  // when the bus stored its first chunk
  // The newest complete frame.
  uint64_t last_offset = 0;  // of its last chunk
  ltx::TXID last_txid = 0;
  int64_t last_time_ms = 0;  // when the bus stored its last chunk
};

class TransactionStream {
 public:
  // Resolves options.start and options.stop and subscribes. `bus` is used
  // only during Open(). Opening a database that has nothing on the bus is
  // NotFound, except when following (stop kNever) from the beginning or the
  // end, which waits for its first transaction.
  static Result<std::unique_ptr<TransactionStream>> Open(bus::Bus& bus, const std::string& database,
                                                         StreamOptions options);
  virtual ~TransactionStream() = default;

  // The next transaction; nullopt when none completed within `timeout` or the
  // stream has finished. Errors: a continuity break or a frame that fails
  // verification (Corruption; the next call goes on after it), or the bus
  // (Unavailable, NotFound when retention removed the next offset, ...).
  virtual Result<std::optional<Transaction>> Next(bus::Millis timeout) = 0;
  // True once the stop position is passed; Next() then returns nullopt.
  virtual bool finished() const = 0;

  // Records that the caller is done with everything up to and including
  // `position` (saved to StreamOptions::positions, if set). Idempotent.
  virtual Status Ack(const Position& position) = 0;
  virtual const std::optional<Position>& acked() const = 0;

  // What the bus held when the stream opened (nullopt: nothing yet).
  virtual const std::optional<StreamBounds>& bounds() const = 0;
};

}  // namespace ltxbus::consumer
