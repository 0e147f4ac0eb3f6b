#include "consumer/stream_locator.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ltxbus::consumer::internal {
namespace {

using ltx::FormatTXID;

// "TXIDs a-b at offsets x-y, stored from t1 to t2": what the bus holds, for
// error messages that let the user pick a valid position.
std::string Describe(const StreamBounds& b) {
  return fmt::format("the bus holds TXIDs {} to {} at offsets {} to {}, stored from {} to {}",
                     FormatTXID(b.first_min_txid), FormatTXID(b.last_txid), b.first_offset,
                     b.last_offset, FormatRfc3339(b.first_time_ms), FormatRfc3339(b.last_time_ms));
}

bus::StartPosition AtOffset(uint64_t offset) {
  bus::StartPosition p;
  p.kind = bus::StartPosition::Kind::kOffset;
  p.offset = offset;
  return p;
}

}  // namespace

StreamLocator::StreamLocator(bus::Bus& bus, std::string database, bus::Millis timeout)
    : bus_(bus), database_(std::move(database)), timeout_(timeout) {}

Result<ChunkInfo> StreamLocator::ChunkAtOrAfter(uint64_t offset) {
  probes_++;
  LTXBUS_ASSIGN_OR_RETURN(auto sub, bus_.Subscribe(database_, AtOffset(offset)));
  LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::Chunk> chunk, sub->Next(timeout_));
  if (!chunk) {
    return Status::Timeout("database '{}': no message at or after offset {} arrived within {} ms",
                           database_, offset, timeout_.count());
  }
  return ChunkInfo{chunk->offset, chunk->bus_time_ms, std::move(chunk->headers)};
}

Result<std::optional<StreamBounds>> StreamLocator::ReadBounds() {
  LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::LastFrame> newest, bus_.ReadLastFrame(database_));
  if (!newest) return std::optional<StreamBounds>();
  LTXBUS_ASSIGN_OR_RETURN(ChunkInfo last, ChunkAtOrAfter(newest->offset));
  if (last.offset != newest->offset || last.headers.frame.max_txid != newest->id.max_txid) {
    return Status::Unavailable(
        "database '{}': the newest frame (TXID {} at offset {}) was gone when read again; the "
        "stream is being truncated or replaced, try again",
        database_, FormatTXID(newest->id.max_txid), newest->offset);
  }
  // The oldest frame that can be read whole starts at the first chunk 0: a
  // frame whose start retention removed is dropped by every reader.
  probes_++;
  LTXBUS_ASSIGN_OR_RETURN(auto sub, bus_.Subscribe(database_, bus::StartPosition{}));
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::Chunk> c, sub->Next(timeout_));
    if (!c) {
      return Status::Timeout("database '{}': reading its oldest frame took longer than {} ms",
                             database_, timeout_.count());
    }
    if (c->headers.index == 0 || c->offset >= last.offset) {
      first_ = ChunkInfo{c->offset, c->bus_time_ms, std::move(c->headers)};
      break;
    }
  }
  last_ = last;
  StreamBounds b;
  b.first_offset = first_->offset;
  b.first_min_txid = first_->headers.frame.min_txid;
  b.first_txid = first_->headers.frame.max_txid;
  b.first_time_ms = first_->bus_time_ms;
  b.last_offset = last_->offset;
  b.last_txid = last_->headers.frame.max_txid;
  b.last_time_ms = last_->bus_time_ms;
  return std::optional<StreamBounds>(b);
}

Result<ChunkInfo> StreamLocator::FindTxid(ltx::TXID txid) {
  if (!first_ || !last_) return Status::Internal("FindTxid before ReadBounds");
  if (txid <= first_->headers.frame.max_txid) return *first_;
  // Invariant: the first chunk at or after `lo` has MaxTXID < txid; the first
  // at or after `hi` is `found`, with MaxTXID >= txid.
  uint64_t lo = first_->offset;
  uint64_t hi = last_->offset;
  ChunkInfo found = *last_;
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    LTXBUS_ASSIGN_OR_RETURN(ChunkInfo c, ChunkAtOrAfter(mid));
    if (c.headers.frame.max_txid >= txid) {
      hi = mid;
      found = std::move(c);
    } else {
      lo = std::max(mid, c.offset);
      if (lo >= hi) break;  // the bus moved under us; `found` still holds
    }
  }
  SPDLOG_DEBUG("database '{}': TXID {} resolved to offset {} in {} probes", database_,
               FormatTXID(txid), found.offset, probes_);
  return found;
}

Result<ReadPlan> PlanRead(StreamLocator& locator, const std::string& database,
                          const std::optional<StreamBounds>& bounds, const StartAt& start,
                          const StopAt& stop) {
  using SK = StartAt::Kind;
  ReadPlan plan;
  const bool follow = stop.kind == StopAt::Kind::kNever;
  if (!bounds) {
    if (follow && (start.kind == SK::kBeginning || start.kind == SK::kEnd)) {
      plan.subscribe.kind = start.kind == SK::kBeginning ? bus::StartPosition::Kind::kBeginning
                                                         : bus::StartPosition::Kind::kEnd;
      return plan;
    }
    return Status::NotFound(
        "database '{}' has no transactions on this bus (is the name right? it is the name the "
        "producer publishes under, by default the database's file name)",
        database);
  }
  const StreamBounds& b = *bounds;
  const bool complete_history = b.first_min_txid == 1;  // the oldest frame needs nothing before it
  auto where = [&] { return fmt::format("database '{}': {}", database, Describe(b)); };

  switch (start.kind) {
    case SK::kBeginning:
      plan.subscribe.kind = bus::StartPosition::Kind::kBeginning;
      break;
    case SK::kEnd:
      plan.subscribe = AtOffset(b.last_offset + 1);
      break;
    case SK::kOffset:
      if (start.offset > b.last_offset && !follow) {
        return Status::InvalidArgument("start offset {} is past the end of the stream; {}",
                                       start.offset, where());
      }
      if (start.offset < b.first_offset) {
        if (!complete_history) {
          return Status::NotFound(
              "start offset {} is before the oldest frame the bus still holds (retention removed "
              "what was there); {}",
              start.offset, where());
        }
        plan.subscribe.kind = bus::StartPosition::Kind::kBeginning;
      } else {
        plan.subscribe = AtOffset(start.offset);
      }
      break;
    case SK::kTime:
      if (start.time_ms > b.last_time_ms && !follow) {
        return Status::InvalidArgument("nothing was stored at or after start time {}; {}",
                                       FormatRfc3339(start.time_ms), where());
      }
      if (start.time_ms < b.first_time_ms && !complete_history) {
        return Status::NotFound(
            "start time {} is before the oldest frame the bus still holds (retention removed "
            "older frames); {}",
            FormatRfc3339(start.time_ms), where());
      }
      if (start.time_ms <= b.first_time_ms) {
        plan.subscribe.kind = bus::StartPosition::Kind::kBeginning;
      } else {
        plan.subscribe.kind = bus::StartPosition::Kind::kTime;
        plan.subscribe.time_ms = start.time_ms;
        plan.min_first_time_ms = start.time_ms;
      }
      break;
    case SK::kTxid: {
      if (start.txid < b.first_min_txid) {
        return Status::NotFound(
            "start TXID {} is older than the oldest transaction the bus still holds (retention "
            "removed it); {}",
            FormatTXID(start.txid), where());
      }
      if (start.txid > b.last_txid) {
        if (follow && start.txid == b.last_txid + 1) {
          plan.subscribe = AtOffset(b.last_offset + 1);
          plan.expect_contains_txid = start.txid;
          break;
        }
        return Status::NotFound("unknown start TXID {}: it is newer than the newest; {}",
                                FormatTXID(start.txid), where());
      }
      LTXBUS_ASSIGN_OR_RETURN(ChunkInfo c, locator.FindTxid(start.txid));
      if (c.headers.frame.min_txid > start.txid) {
        return Status::NotFound(
            "unknown start TXID {}: the stream has no frame with it (the next frame holds TXIDs "
            "{} to {} at offset {}); {}",
            FormatTXID(start.txid), FormatTXID(c.headers.frame.min_txid),
            FormatTXID(c.headers.frame.max_txid), c.offset, where());
      }
      plan.subscribe = AtOffset(c.offset);
      plan.expect_contains_txid = start.txid;
      break;
    }
    case SK::kAfter: {
      const Position& p = start.after;
      if (p.txid > b.last_txid) {
        return Status::InvalidArgument(
            "position {} is ahead of the stream (was the stream or the database replaced?); {}",
            p.ToString(), where());
      }
      plan.skip_through_txid = p.txid;
      plan.expect_next_txid = p.txid + 1;
      if (p.last_offset + 1 < b.first_offset && b.first_min_txid > p.txid + 1 &&
          !complete_history) {
        return Status::NotFound("retention removed the transactions after position {}; {}",
                                p.ToString(), where());
      }
      if (p.last_offset + 1 < b.first_offset) {
        plan.subscribe.kind = bus::StartPosition::Kind::kBeginning;
      } else {
        plan.subscribe = AtOffset(p.last_offset + 1);
      }
      if (p.txid == b.last_txid && !follow) plan.finished_at_open = true;
      break;
    }
  }

  switch (stop.kind) {
    case StopAt::Kind::kNever:
      return plan;
    case StopAt::Kind::kEnd:
      break;
    case StopAt::Kind::kOffset:
      if (stop.offset > b.last_offset) {
        return Status::InvalidArgument("stop offset {} is past the end of the stream; {}",
                                       stop.offset, where());
      }
      if (stop.offset < b.first_offset) {
        return Status::NotFound("stop offset {} is before the oldest frame the bus still holds; {}",
                                stop.offset, where());
      }
      plan.stop_offset = stop.offset;
      break;
    case StopAt::Kind::kTime:
      if (stop.time_ms < b.first_time_ms) {
        return Status::NotFound(
            "stop time {} is before the oldest frame the bus still holds (retention removed older "
            "frames, or the database was not replicated yet); {}",
            FormatRfc3339(stop.time_ms), where());
      }
      plan.stop_time_ms = stop.time_ms;
      break;
    case StopAt::Kind::kTxid: {
      if (stop.txid < b.first_min_txid || stop.txid > b.last_txid) {
        return Status::NotFound("unknown stop TXID {}; {}", FormatTXID(stop.txid), where());
      }
      LTXBUS_ASSIGN_OR_RETURN(ChunkInfo c, locator.FindTxid(stop.txid));
      if (c.headers.frame.min_txid > stop.txid) {
        return Status::NotFound(
            "unknown stop TXID {}: the stream has no frame with it (the next frame holds TXIDs {} "
            "to {}); {}",
            FormatTXID(stop.txid), FormatTXID(c.headers.frame.min_txid),
            FormatTXID(c.headers.frame.max_txid), where());
      }
      if (c.headers.frame.max_txid != stop.txid) {
        return Status::InvalidArgument(
            "stop TXID {} is inside a frame that holds TXIDs {} to {} (a snapshot or a compacted "
            "frame): the stream has no state at exactly {}; stop at {} instead",
            FormatTXID(stop.txid), FormatTXID(c.headers.frame.min_txid),
            FormatTXID(c.headers.frame.max_txid), FormatTXID(stop.txid),
            FormatTXID(c.headers.frame.max_txid));
      }
      plan.stop_txid = stop.txid;
      break;
    }
  }
  // A bounded read never waits for what is published after it opened.
  if (!plan.stop_offset || *plan.stop_offset > b.last_offset) {
    plan.stop_offset = b.last_offset;
  }

  // An empty range is a mistake, not an empty result.
  auto empty = [&] {
    return Status::InvalidArgument("the stream would start at {} and stop at {}: nothing between",
                                   start.ToString(), stop.ToString());
  };
  if (start.kind == SK::kTxid && plan.stop_txid && start.txid > *plan.stop_txid) return empty();
  if (start.kind == SK::kOffset && stop.kind == StopAt::Kind::kOffset &&
      start.offset > stop.offset) {
    return empty();
  }
  if (start.kind == SK::kTime && plan.stop_time_ms && start.time_ms > *plan.stop_time_ms) {
    return empty();
  }
  if (start.kind == SK::kEnd) plan.finished_at_open = true;
  return plan;
}

}  // namespace ltxbus::consumer::internal
