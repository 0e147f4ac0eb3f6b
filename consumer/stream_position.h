// Positions in a database's stream, as the consumer API (consumer/
// transaction_stream.h) and `ltxbus tail` use them: where a transaction sits
// on the bus, where reading starts and where it stops.
//
// Offsets are the bus's own (Kafka partition offsets, JetStream stream
// sequences); they only grow along a database's stream but are not dense
// (other databases, Kafka transaction markers). Times are the bus's store
// times in milliseconds since the Unix epoch, not the commit time in the LTX
// header (which the bus cannot search by).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "ltx/ltx.h"

namespace ltxbus::consumer {

// Where one delivered transaction (one frame) sits on the bus. The frame
// starts at `first_offset` and became complete at `last_offset`; `txid` is its
// MaxTXID. Two deliveries of the same transaction (a re-read, a re-published
// frame) have the same `txid`, which is what makes acknowledging idempotent.
struct Position {
  ltx::TXID txid = 0;
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;

  // "TXID:FIRST:LAST" with the TXID as 16 hex digits, e.g.
  // "000000000000002a:118:120"; Parse() accepts exactly that form.
  std::string ToString() const;
  static Result<Position> Parse(std::string_view text);
  bool operator==(const Position&) const = default;
};

// Where a stream starts delivering.
struct StartAt {
  enum class Kind {
    kBeginning,  // the oldest frame the bus still holds
    kEnd,        // after the newest complete frame (only what is published from now on)
    kOffset,     // the first frame whose first chunk is at or after `offset`
    kTime,       // the first frame whose first chunk the bus stored at or after `time_ms`
    kTxid,       // the frame that contains `txid` (MinTXID <= txid <= MaxTXID)
    kAfter,      // the transaction after `after` (resuming from an acknowledged position)
  };
  Kind kind = Kind::kEnd;
  uint64_t offset = 0;
  int64_t time_ms = 0;
  ltx::TXID txid = 0;
  Position after;

  static StartAt Beginning() { return Make(Kind::kBeginning); }
  static StartAt End() { return Make(Kind::kEnd); }
  static StartAt Offset(uint64_t o) {
    StartAt s = Make(Kind::kOffset);
    s.offset = o;
    return s;
  }
  static StartAt Time(int64_t ms) {
    StartAt s = Make(Kind::kTime);
    s.time_ms = ms;
    return s;
  }
  static StartAt Txid(ltx::TXID t) {
    StartAt s = Make(Kind::kTxid);
    s.txid = t;
    return s;
  }
  static StartAt After(const Position& p) {
    StartAt s = Make(Kind::kAfter);
    s.after = p;
    return s;
  }
  std::string ToString() const;  // for messages

 private:
  static StartAt Make(Kind k) {
    StartAt s;
    s.kind = k;
    return s;
  }
};

// Where a stream stops delivering (after which Next() reports it finished).
struct StopAt {
  enum class Kind {
    kNever,   // keep following
    kEnd,     // after the newest frame that was complete when the stream opened
    kOffset,  // after the last frame complete at `offset` (its last chunk <= offset)
    kTime,    // after the last frame the bus had completely stored by `time_ms`
    kTxid,    // after the frame whose MaxTXID is `txid`
  };
  Kind kind = Kind::kNever;
  uint64_t offset = 0;
  int64_t time_ms = 0;
  ltx::TXID txid = 0;

  static StopAt Never() { return Make(Kind::kNever); }
  static StopAt End() { return Make(Kind::kEnd); }
  static StopAt Offset(uint64_t o) {
    StopAt s = Make(Kind::kOffset);
    s.offset = o;
    return s;
  }
  static StopAt Time(int64_t ms) {
    StopAt s = Make(Kind::kTime);
    s.time_ms = ms;
    return s;
  }
  static StopAt Txid(ltx::TXID t) {
    StopAt s = Make(Kind::kTxid);
    s.txid = t;
    return s;
  }
  std::string ToString() const;  // for messages

 private:
  static StopAt Make(Kind k) {
    StopAt s;
    s.kind = k;
    return s;
  }
};

// A TXID as users type it: 16 hex digits (Litestream's form), "0x" + hex,
// or decimal.
Result<ltx::TXID> ParseTxidArg(std::string_view text);

// RFC 3339 ("2026-11-21T07:30:12Z", "2026-11-21T08:30:12.250+01:00"; 't',
// 'z' and a space instead of 'T' are accepted) to milliseconds since the
// Unix epoch. Fractions finer than a millisecond are truncated.
Result<int64_t> ParseRfc3339(std::string_view text);
// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds:
// "2026-11-21T07:30:12.250Z".
std::string FormatRfc3339(int64_t unix_ms);

}  // namespace ltxbus::consumer
