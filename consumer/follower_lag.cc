#include "consumer/follower_lag.h"

#include <algorithm>
#include <chrono>

namespace ltxbus::consumer {

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<StreamHead> ReadStreamHead(bus::Bus& bus, const std::string& database, int64_t now_ms) {
  LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::LastFrame> last, bus.ReadLastFrame(database));
  StreamHead h;
  h.known = true;
  h.read_ms = now_ms;
  if (last) {
    h.txid = last->id.max_txid;
    h.timestamp_ms = last->id.timestamp_ms;
    h.offset = last->offset;
  }
  return h;
}

Lag ComputeLag(ltx::TXID applied_txid, int64_t applied_timestamp_ms, const StreamHead& head,
               int64_t now_ms) {
  Lag lag;
  const auto seconds = [](int64_t ms) {
    return static_cast<double>(std::max<int64_t>(ms, 0)) / 1e3;
  };
  if (applied_txid > 0) lag.seconds_behind = seconds(now_ms - applied_timestamp_ms);
  if (!head.known) return lag;
  lag.txids_behind = head.txid > applied_txid ? head.txid - applied_txid : 0;
  if (head.txid > 0) lag.head_seconds_behind = seconds(now_ms - head.timestamp_ms);
  if (*lag.txids_behind == 0) {
    lag.lag_seconds = 0;
  } else if (applied_txid > 0) {
    lag.lag_seconds = seconds(head.timestamp_ms - applied_timestamp_ms);
  }
  return lag;
}

}  // namespace ltxbus::consumer
