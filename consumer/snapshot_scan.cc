#include "consumer/snapshot_scan.h"

#include <spdlog/spdlog.h>

#include "bus/assembler.h"

namespace ltxbus::consumer {

Result<SnapshotScanResult> FindNewestSnapshot(const SubscribeFn& subscribe,
                                              std::chrono::milliseconds quiet) {
  bus::StartPosition start;
  start.kind = bus::StartPosition::Kind::kBeginning;
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<bus::Subscriber> sub, subscribe(start));
  LTXBUS_ASSIGN_OR_RETURN(uint64_t head, sub->HeadOffset());
  bus::FrameAssembler assembler;
  SnapshotScanResult result;
  for (;;) {
    auto chunk = sub->Next(quiet);
    if (!chunk.ok()) {
      // A message that is not a chunk of this database: not a snapshot.
      if (chunk.status().IsCorruption()) continue;
      return chunk.status();
    }
    if (!chunk->has_value()) break;
    const uint64_t offset = (*chunk)->offset;
    result.end_offset = offset + 1;
    LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::Frame> frame, assembler.Add(std::move(**chunk)));
    if (frame && frame->id().min_txid == 1) {
      result.newest = SnapshotScanResult::Found{frame->first_offset(), frame->id().max_txid};
    }
    if (offset + 1 >= head) break;
  }
  return result;
}

}  // namespace ltxbus::consumer
