// Finds where a follower with nothing applied should start: the newest
// snapshot frame its database's stream holds.
//
// This is the bootstrap seam: today the stream is the only source of
// snapshots, so the whole stream is read once; once an archive exists
// (object storage, issue 5) a replica can be built from it instead and this
// scan becomes the fallback.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "bus/bus.h"
#include "ltx/ltx.h"

namespace ltxbus::consumer {

// Opens a subscription to one database's stream.
using SubscribeFn =
    std::function<Result<std::unique_ptr<bus::Subscriber>>(const bus::StartPosition&)>;

struct SnapshotScanResult {
  struct Found {
    uint64_t first_offset = 0;  // of the snapshot's first chunk
    ltx::TXID txid = 0;
  };
  std::optional<Found> newest;
  // Where reading stopped: subscribe here when there is no snapshot, so as to
  // see the next one published (0 when the stream was empty: the beginning).
  uint64_t end_offset = 0;
};

// Reads the stream from its beginning to its head (or until nothing arrives
// for `quiet`).
Result<SnapshotScanResult> FindNewestSnapshot(const SubscribeFn& subscribe,
                                              std::chrono::milliseconds quiet);

}  // namespace ltxbus::consumer
