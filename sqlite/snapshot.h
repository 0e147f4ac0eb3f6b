// Encodes a consistent image of a live SQLite database as an LTX snapshot,
// reading pages through sqlite_dbpage inside one read transaction (so a WAL
// database is read as of one commit, while writers continue).
#pragma once

#include <string>

#include "base/env.h"
#include "ltx/encoder.h"
#include "ltx/ltx.h"

namespace ltxbus::sqlite {

struct SnapshotOptions {
  ltx::TXID txid = 1;        // the snapshot covers TXIDs 1..txid
  bool checksums = true;     // track the database checksum (post-apply)
  int64_t timestamp_ms = 0;  // 0 = now
  ltx::EncoderOptions encoder;
};

// Returns the header written. The database is opened read-only.
Result<ltx::Header> EncodeSnapshot(const std::string& db_path, WritableFile* out,
                                   const SnapshotOptions& options);

}  // namespace ltxbus::sqlite
