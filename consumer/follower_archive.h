// A follower's second source of snapshots: the archive `ltxbus archive`
// keeps (docs/follower.md, "Bootstrap"; docs/archive.md).
//
// When a replica is empty, or the stream no longer holds the frame after the
// replica's TXID (retention), the archive's newest state can be restored and
// the stream followed from the frame after it, provided the stream does hold
// that frame and it continues exactly that state (its pre-apply checksum is
// the archive's post-apply checksum). PlanArchiveBootstrap decides, with the
// stream locator resolving the TXID to an offset; RestoreArchiveSnapshot
// restores the plan into a temporary file beside the replica (the restore
// code of `ltxbus restore`, checked against the manifest's checksum) and
// hands it back as one snapshot frame, which the follower verifies and
// applies exactly like a snapshot from the stream: in one replica
// transaction, so readers switch from the old state to the new one at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "bus/assembler.h"
#include "bus/bus.h"
#include "consumer/archive_layout.h"
#include "store/object_store.h"

namespace ltxbus::consumer {

// The archive's newest state and where the stream continues it.
struct ArchiveBootstrapPlan {
  std::vector<ArchiveFile> files;  // the restore plan of that state
  ltx::TXID txid = 0;
  ltx::Checksum checksum = 0;  // from the manifest; 0 if the archive does not say
  int64_t timestamp_ms = 0;
  bus::StartPosition resume;  // the first chunk of the frame after `txid`
  // What the replica's position records as the last offset applied, so a
  // restart resumes at `resume` too.
  uint64_t position_offset = 0;
};

// Whether the archive should bootstrap a replica at `replica_txid` (nullopt:
// the replica is empty), and from what. Returns nullopt, with the reason
// logged, when the stream still continues the replica (or holds a snapshot
// from its oldest frame on), or when the archive cannot help: empty, no
// newer than the replica, behind the stream's oldest frame, or on another
// checksum chain than the stream.
Result<std::optional<ArchiveBootstrapPlan>> PlanArchiveBootstrap(
    store::ObjectStore& archive, bus::Bus& bus, const std::string& database,
    std::optional<ltx::TXID> replica_txid, bus::Millis timeout);

// Restores `plan` into a temporary file beside `replica_path`, then returns
// that state as one snapshot frame of `database` (an LTX file with database
// checksums, spooled to an unlinked temporary file beside the replica) whose
// offsets are plan.position_offset. The temporary database is removed.
Result<bus::Frame> RestoreArchiveSnapshot(Env* env, store::ObjectStore& archive,
                                          const ArchiveBootstrapPlan& plan,
                                          const std::string& database,
                                          const std::string& replica_path);

}  // namespace ltxbus::consumer
