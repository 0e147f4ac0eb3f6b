// A consistent, lock-free read of SQLite's wal-index header from the -shm
// file (format: SQLite's walformat.html §2). The -shm starts with two 48-byte
// copies of the header, at offsets 0 and 48, then the checkpoint info:
//
//   0  iVersion u32 (3007000)   16 mxFrame u32      32 aSalt[2]  (WAL bytes)
//   4  unused u32               20 nPage u32        40 aCksum[2] over 0..39
//   8  iChange u32              24 aFrameCksum[2]
//   12 isInit u8, 13 bigEndCksum u8, 14 szPage u16 (1 means 65536)
//   96 nBackfill u32, 100 aReadMark[5] u32, 120 lock bytes, 128 nBackfillAttempted
//
// Byte order: the -shm is shared memory, not a portable file, so its integers
// are in the host's native order and aCksum is computed over native-order
// words — except aSalt, which holds the salts as the raw (big-endian) bytes of
// the WAL header. Writers update copy 1, then copy 0; we read copy 0, then
// copy 1, and accept them only if they are equal, initialised and checksum
// correctly, retrying a bounded number of times otherwise.
//
// The -shm file is opened once and kept open: closing any descriptor of a file
// drops every POSIX lock this process holds on it, including SQLite's own
// (howtocorrupt.html §2.2). Destroy a WalIndex only when no SQLite connection
// in this process has the database open, or at exit.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/env.h"
#include "base/status.h"
#include "producer/wal_format.h"

namespace ltxbus::producer {

inline constexpr size_t kWalIndexHeaderSize = 48;
inline constexpr uint32_t kWalIndexVersion = 3007000;

struct WalIndexHeader {
  uint32_t version = 0;  // iVersion
  uint32_t change = 0;   // iChange: changes with every commit (and restart)
  bool is_init = false;
  bool big_endian_checksums = false;  // the WAL's checksum word order
  uint32_t page_size = 0;             // decoded: 65536 is stored as 1
  // Last frame of the last committed transaction; frames up to it are final.
  // 0 when the WAL is empty (or was just restarted).
  uint32_t max_frame = 0;
  uint32_t db_pages = 0;       // nPage: database size in pages after that commit
  WalChecksum frame_checksum;  // chain value after frame max_frame
  uint32_t salt1 = 0;          // the WAL header's salts, as the WAL reader sees them
  uint32_t salt2 = 0;
  WalChecksum checksum;  // aCksum: over bytes 0..39, native order

  // From the checkpoint info after the two copies. Not covered by any
  // checksum and read without a lock, so a racing value is possible; for
  // monitoring, tests and skipping a checkpoint with nothing to copy back
  // (a wrong value only puts one off or runs one for nothing), never for
  // correctness.
  uint32_t backfill = 0;  // nBackfill: frames copied into the database file
  uint32_t backfill_attempted = 0;
  std::array<uint32_t, 5> read_marks{};  // aReadMark

  // Decodes one 48-byte copy (native order) without validating it.
  static WalIndexHeader Decode(std::span<const uint8_t, kWalIndexHeaderSize> copy);
  // The checksum a copy should carry: bytes 0..39 as native-order words.
  static WalChecksum ComputeChecksum(std::span<const uint8_t, kWalIndexHeaderSize> copy);
};

struct WalIndexReadOptions {
  // Attempts before giving up; writers hold the header inconsistent for
  // microseconds, so this only runs out if one died mid-update (SQLite's next
  // connection then runs recovery) or the -shm is being re-initialised.
  int max_attempts = 100;
  // Attempts after the first few sleep, growing to this.
  std::chrono::microseconds max_delay{1000};
};

class WalIndex {
 public:
  explicit WalIndex(std::unique_ptr<RandomAccessFile> shm);
  // Opens `shm_path` read-only through `env`, for the life of the WalIndex.
  static Result<WalIndex> Open(Env* env, const std::string& shm_path);

  // A consistent header. Unavailable if no consistent, initialised copy was
  // seen within the attempts (the message says what was wrong last);
  // Corruption if a consistent header has an unknown version; I/O errors as
  // they come.
  Result<WalIndexHeader> Read(const WalIndexReadOptions& options = {}) const;

 private:
  std::unique_ptr<RandomAccessFile> shm_;
};

}  // namespace ltxbus::producer
