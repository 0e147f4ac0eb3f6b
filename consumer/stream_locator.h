// Turning the positions a consumer asks for (consumer/stream_position.h) into
// where a Subscriber starts and when a stream stops, by asking the bus
// through short-lived Subscribers ("probes"). Internal to
// consumer/transaction_stream.cc; a header so that it can be tested alone.
//
// A TXID is resolved by bisection over offsets: the first chunk at or after
// an offset carries its frame's TXIDs, and TXIDs only grow along a
// database's stream, so "the first chunk whose MaxTXID >= X" is found in
// O(log(offsets)) probes between the oldest retained frame and the newest
// complete one. Probes only ever start at or before a chunk known to exist
// (the newest frame's last chunk), so none waits for a future message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "bus/bus.h"
#include "consumer/stream_position.h"
#include "consumer/transaction_stream.h"

namespace ltxbus::consumer::internal {

// One chunk as a probe saw it (payload dropped).
struct ChunkInfo {
  uint64_t offset = 0;
  int64_t bus_time_ms = 0;
  bus::ChunkHeaders headers;
};

class StreamLocator {
 public:
  StreamLocator(bus::Bus& bus, std::string database, bus::Millis timeout);

  // The oldest retained frame start and the newest complete frame; nullopt
  // when the database has nothing on the bus.
  Result<std::optional<StreamBounds>> ReadBounds();
  // The database's first chunk at or after `offset`. The caller guarantees
  // one exists (offset <= the newest frame's last chunk).
  Result<ChunkInfo> ChunkAtOrAfter(uint64_t offset);
  // The first chunk whose frame has MaxTXID >= `txid`: the frame containing
  // `txid` if its MinTXID <= txid, otherwise `txid` is not on the bus. Needs
  // ReadBounds() first and bounds.first_min_txid <= txid <= bounds.last_txid.
  Result<ChunkInfo> FindTxid(ltx::TXID txid);

  // Subscribers made so far (for tests and logs).
  int probes() const { return probes_; }

 private:
  bus::Bus& bus_;
  std::string database_;
  bus::Millis timeout_;
  std::optional<ChunkInfo> first_;  // chunk 0 of the oldest retained frame
  std::optional<ChunkInfo> last_;   // last chunk of the newest complete frame
  int probes_ = 0;
};

// How a stream reads, once its positions are resolved.
struct ReadPlan {
  bus::StartPosition subscribe;
  // Frames whose first chunk the bus stored before this are skipped (kTime).
  int64_t min_first_time_ms = 0;
  // Frames with MaxTXID <= this are skipped (kAfter: already acknowledged).
  ltx::TXID skip_through_txid = 0;
  // The first delivered frame must start at this TXID, or be a snapshot (kAfter).
  std::optional<ltx::TXID> expect_next_txid;
  // The first delivered frame must contain this TXID (kTxid).
  std::optional<ltx::TXID> expect_contains_txid;
  // Stop conditions; any set one ends the stream. A bounded stream also stops
  // at the end as it was when it opened (stop_offset).
  std::optional<uint64_t> stop_offset;  // after the frames complete at this offset
  std::optional<int64_t> stop_time_ms;  // after the frames stored completely by then
  std::optional<ltx::TXID> stop_txid;   // after the frame with this MaxTXID
  bool finished_at_open = false;        // the range is empty (resuming when caught up)
};

// Checks `start` and `stop` against what the bus holds and plans the read.
// Errors name the database, the position asked for and what the bus holds.
Result<ReadPlan> PlanRead(StreamLocator& locator, const std::string& database,
                          const std::optional<StreamBounds>& bounds, const StartAt& start,
                          const StopAt& stop);

}  // namespace ltxbus::consumer::internal
