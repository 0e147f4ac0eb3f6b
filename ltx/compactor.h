// Merges a contiguous run of LTX files into one, as superfly/ltx's Compactor
// does: for each page the copy from the newest input wins, pages above the
// last input's Commit are dropped, and the header takes MinTXID and the
// pre-apply checksum from the first input and everything else (MaxTXID,
// Commit, Timestamp, post-apply checksum) from the last. WAL fields and NodeID
// are zeroed. Streaming: memory is one page per input.
#pragma once

#include <span>

#include "base/env.h"
#include "ltx/encoder.h"
#include "ltx/ltx.h"

namespace ltxbus::ltx {

struct CompactOptions {
  EncoderOptions encoder;
  // kAuto keeps database checksums when every input has them; kOff strips them
  // (what Litestream's archive wants; it reads NoChecksum files only).
  enum class Checksums { kAuto, kOff } checksums = Checksums::kAuto;
};

// Inputs must be in TXID order, share a page size and be contiguous
// (next.MinTXID <= prev.MaxTXID + 1 and next.MaxTXID > prev.MaxTXID); where
// two inputs are adjacent and both track checksums, next's pre-apply checksum
// must equal prev's post-apply checksum. Every input is fully verified. On
// error `out` holds garbage and must be discarded.
Result<Header> Compact(std::span<SequentialFile* const> inputs, WritableFile* out,
                       const CompactOptions& options = {});

// Checks that `next` may follow `prev` in a chain (contiguous TXIDs, and the
// checksum chain where both track checksums and are adjacent).
Status CheckChain(const Header& prev, const Trailer& prev_trailer, const Header& next);

}  // namespace ltxbus::ltx
