// The LTX database checksum (docs/ltx-format.md §5): for every page p except
// the lock page, c_p = bit63 | CRC64(u32_BE(p) || page); the database checksum
// is bit63 | XOR of all c_p. Order-independent, so it can be updated one page
// at a time as pages change.
#pragma once

#include <cstdint>
#include <span>

#include "base/env.h"
#include "ltx/ltx.h"

namespace ltxbus::ltx {

Checksum PageChecksum(uint32_t pgno, std::span<const uint8_t> data);

class DatabaseChecksum {
 public:
  DatabaseChecksum() = default;
  // Resumes from a stored checksum (0 or a value with bit 63 set).
  explicit DatabaseChecksum(Checksum value) : xor_(value & ~kChecksumFlag) {}
  void Add(Checksum page_checksum) { xor_ ^= page_checksum & ~kChecksumFlag; }
  // Removing is the same XOR; the separate name documents intent.
  void Remove(Checksum page_checksum) { Add(page_checksum); }
  // bit63 | XOR; an empty database gives exactly bit 63.
  Checksum Value() const { return kChecksumFlag | xor_; }

 private:
  uint64_t xor_ = 0;
};

// Checksums pages 1..page_count of a database file (lock page excluded).
// Pages beyond the file's end count as missing: an error.
Result<Checksum> ChecksumDatabaseFile(const RandomAccessFile& file, uint32_t page_size,
                                      uint32_t page_count);

}  // namespace ltxbus::ltx
