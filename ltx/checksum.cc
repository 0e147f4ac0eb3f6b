#include "ltx/checksum.h"

#include <vector>

#include "base/crc64.h"
#include "base/endian.h"

namespace ltxbus::ltx {

Checksum PageChecksum(uint32_t pgno, std::span<const uint8_t> data) {
  uint8_t be[4];
  StoreBE32(be, pgno);
  Crc64 crc;
  crc.Update(be);
  crc.Update(data);
  return kChecksumFlag | crc.Value();
}

Result<Checksum> ChecksumDatabaseFile(const RandomAccessFile& file, uint32_t page_size,
                                      uint32_t page_count) {
  DatabaseChecksum sum;
  std::vector<uint8_t> page(page_size);
  const uint32_t lock = LockPgno(page_size);
  for (uint32_t pgno = 1; pgno <= page_count; pgno++) {
    if (pgno == lock) continue;
    LTXBUS_RETURN_IF_ERROR(file.ReadAt(uint64_t{pgno - 1} * page_size, page));
    sum.Add(PageChecksum(pgno, page));
  }
  return sum.Value();
}

}  // namespace ltxbus::ltx
