// How far a replica is behind its stream (docs/follower.md, "Lag"): TXIDs
// behind the head of the stream, and the age of the newest frame applied and
// of the head, from their LTX timestamps (the source's commit times).
//
// The head is read with bus::Bus::ReadLastFrame, which walks back to the
// newest complete frame; it costs a request or two, so a follower process
// reads it at an interval (FollowerGroup, once a second) and `ltxbus status`
// once, never per frame.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bus/bus.h"
#include "ltx/ltx.h"

namespace ltxbus::consumer {

// The newest complete frame of the database on the bus, as last read.
struct StreamHead {
  bool known = false;        // read at least once
  ltx::TXID txid = 0;        // 0: the stream holds no frame of the database
  int64_t timestamp_ms = 0;  // its LTX timestamp
  uint64_t offset = 0;       // its last chunk's offset
  int64_t read_ms = 0;       // wall-clock time it was read
};

// One read of the head. Errors are the bus's (Unavailable, Timeout...).
Result<StreamHead> ReadStreamHead(bus::Bus& bus, const std::string& database, int64_t now_ms);

struct Lag {
  // Unknown until the head was read. A head read before the newest apply
  // may be older than the replica: then 0.
  std::optional<uint64_t> txids_behind;
  // now - the LTX timestamp of the newest frame applied; unknown with
  // nothing applied. Grows while the primary is idle too: read it with
  // txids_behind.
  std::optional<double> seconds_behind;
  // now - the LTX timestamp of the head; unknown while the head is.
  std::optional<double> head_seconds_behind;
  // head timestamp - applied timestamp while frames are missing, else 0:
  // how old the replica's state is compared with what it could show.
  std::optional<double> lag_seconds;
};

Lag ComputeLag(ltx::TXID applied_txid, int64_t applied_timestamp_ms, const StreamHead& head,
               int64_t now_ms);

// The wall clock in milliseconds since the epoch (LTX timestamps' scale).
int64_t WallClockMs();

}  // namespace ltxbus::consumer
