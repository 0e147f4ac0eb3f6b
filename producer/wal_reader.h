// Reads committed transactions out of a live SQLite -wal file, one at a time,
// without holding page data in memory (see docs/wal-capture.md).
//
// A WalPosition names a point in one generation of the WAL (its salts) and
// carries the checksum chain up to there, so reading can continue across
// calls and process restarts. Next() validates every frame from the position
// on (salts, then the checksum chain), groups frames into transactions cut at
// commit frames, and returns the next complete transaction as page offsets.
// It never returns a transaction whose commit frame it has not validated, and
// it never looks at frames past `max_frame` — pass the wal-index mxFrame
// (producer/wal_index.h): frames at or below it are final, while frames above
// it may still be rewritten in place by a committing writer.
//
// When there is no complete transaction to return, the result says precisely
// why (WalStop). Real I/O failures are errors (a non-OK Result) instead.
//
// A WalReader is not thread-safe. It opens nothing but the -wal file, on which
// SQLite takes no POSIX locks, so opening and closing it is harmless.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "producer/wal_format.h"

namespace ltxbus::producer {

// Where reading continues.
struct WalPosition {
  uint32_t salt1 = 0;  // the WAL generation: the header salts
  uint32_t salt2 = 0;
  uint32_t frame = 1;    // the next frame to read, 1-based
  WalChecksum checksum;  // chain value after frame-1; the header checksum when frame == 1

  bool operator==(const WalPosition&) const = default;
};

// Why a read returned no transaction.
enum class WalStop {
  // The valid WAL ends here: the file ends exactly at a frame boundary, or the
  // next frame carries another generation's salts while the header still
  // carries ours (a leftover from before the last restart).
  kEndOfFrames,
  // The next frame is past max_frame.
  kReachedMaxFrame,
  // The WAL was restarted: the header now carries other salts.
  kSaltMismatch,
  // A frame with our salts fails the checksum chain: a torn write in progress,
  // a dead writer's leftovers, or corruption.
  kChecksumMismatch,
  // The file ends inside the header or inside a frame.
  kShortFile,
  // The header does not validate (bad magic, version, page size or checksum):
  // it is being rewritten, was never finished, or this is not a WAL.
  kHeaderChanged,
  // ResumeAt only: the frame before the position no longer carries our salts
  // (or its stored checksum is not the one we had): the WAL was overwritten.
  kPrevFrameMismatch,
};
std::string_view WalStopName(WalStop stop);

struct WalStopInfo {
  WalStop reason = WalStop::kEndOfFrames;
  // The frame at which reading stopped: the offending frame, max_frame+1, or
  // the first frame past the end of the file. Frames from the position up to
  // frame-1 were valid but their transaction's commit frame was not reached.
  uint32_t frame = 0;
  std::string detail;  // for logs: what was expected and what was found
};

// Where the last image of one page in a transaction lives in the -wal file.
struct WalPage {
  uint32_t pgno = 0;
  uint64_t offset = 0;  // byte offset of the page image (after the frame header)
  bool operator==(const WalPage&) const = default;
};

// One committed transaction.
struct WalTransaction {
  uint32_t page_size = 0;
  uint32_t commit = 0;      // database size in pages after this transaction
  WalPosition begin;        // position of its first frame
  WalPosition end;          // position after its commit frame: pass it to the next Next()
  uint64_t wal_offset = 0;  // its frames occupy [wal_offset, wal_offset + wal_size)
  uint64_t wal_size = 0;
  // Ascending pgno, each page once with the offset of its LAST image in the
  // transaction. Pages > commit (the database shrank) and the lock page are
  // left out. Memory is 16 bytes per distinct page, never page data.
  std::vector<WalPage> pages;

  uint32_t frame_count() const { return end.frame - begin.frame; }
};

// The outcome of Next(): a transaction, or why there is none (then the
// position to retry from is unchanged).
struct WalRead {
  std::optional<WalTransaction> txn;
  WalStopInfo stop;  // meaningful only when !txn
};

// The outcome of Start() and ResumeAt(): a position, or why there is none.
struct WalResume {
  std::optional<WalPosition> position;
  WalHeader header;  // the header read, when there is a position
  WalStopInfo stop;  // meaningful only when !position
};

inline constexpr uint32_t kNoMaxFrame = std::numeric_limits<uint32_t>::max();

class WalReader {
 public:
  explicit WalReader(std::unique_ptr<RandomAccessFile> file);
  // Opens `wal_path` through `env` (so tests can inject faults).
  static Result<WalReader> Open(Env* env, const std::string& wal_path);

  // The position of frame 1 of the WAL generation on disk now, and its
  // header. Stops with kShortFile or kHeaderChanged if there is no valid
  // header (an empty WAL has none: SQLite writes it with the first frame).
  Result<WalResume> Start() const;

  // Re-establishes a saved position the way Litestream resumes mid-file: the
  // chain is seeded with the stored checksum of frame-1 (not re-verified;
  // frames before it may have been checkpointed long ago), or with the header
  // checksum when frame == 1. Stops with
  //   kPrevFrameMismatch if frame-1 is gone, carries other salts, or (when
  //     `expected` is given) stores another checksum: the WAL was overwritten
  //     and continuity is lost;
  //   kSaltMismatch if frame-1 is intact but the header carries new salts:
  //     the WAL restarted after everything up to the position was written;
  //   kShortFile / kHeaderChanged if there is no valid header.
  Result<WalResume> ResumeAt(uint32_t salt1, uint32_t salt2, uint32_t frame,
                             std::optional<WalChecksum> expected = std::nullopt) const;
  // ResumeAt(p.salt1, p.salt2, p.frame, p.checksum).
  Result<WalResume> ResumeAt(const WalPosition& p) const;

  // Reads the next complete transaction starting at `pos` (which must come
  // from Start, ResumeAt or a previous transaction's `end`), reading no frame
  // past `max_frame`. `max_frame` must come from a wal-index header with the
  // same salts as `pos`; kNoMaxFrame reads to the end of the valid WAL, which
  // is only safe on a WAL nobody is writing. When max_frame is a real bound,
  // any other stop means the file no longer holds what the wal-index promised
  // (restarted, truncated or corrupted since the header was read).
  Result<WalRead> Next(const WalPosition& pos, uint32_t max_frame) const;

  // Reads dst.size() bytes (a page image) at `offset`, e.g. a WalPage offset.
  // The bytes are what Next() validated only while the frame is not
  // overwritten, i.e. while the producer's read transaction pins the WAL.
  Status ReadPage(uint64_t offset, std::span<uint8_t> dst) const;

 private:
  std::unique_ptr<RandomAccessFile> file_;
};

}  // namespace ltxbus::producer
