#include "producer/wal_format.h"

#include "base/endian.h"
#include "ltx/ltx.h"

namespace ltxbus::producer {

WalChecksum WalChecksumUpdate(bool big_endian, std::span<const uint8_t> data, WalChecksum seed) {
  // Both orders are spelled out rather than byte-swapping the host's, so the
  // result does not depend on the machine we run on.
  uint32_t s0 = seed.s0;
  uint32_t s1 = seed.s1;
  const uint8_t* p = data.data();
  const uint8_t* end = p + (data.size() & ~size_t{7});
  if (big_endian) {
    for (; p < end; p += 8) {
      s0 += LoadBE32(p) + s1;
      s1 += LoadBE32(p + 4) + s0;
    }
  } else {
    for (; p < end; p += 8) {
      s0 += LoadLE32(p) + s1;
      s1 += LoadLE32(p + 4) + s0;
    }
  }
  return {s0, s1};
}

uint64_t WalHeader::FrameOffset(uint32_t index) const {
  return kWalHeaderSize + (uint64_t{index} - 1) * FrameSize();
}

Result<WalHeader> WalHeader::Decode(std::span<const uint8_t, kWalHeaderSize> in) {
  WalHeader h;
  h.magic = LoadBE32(&in[0]);
  h.version = LoadBE32(&in[4]);
  h.page_size = LoadBE32(&in[8]);
  h.checkpoint_seq = LoadBE32(&in[12]);
  h.salt1 = LoadBE32(&in[16]);
  h.salt2 = LoadBE32(&in[20]);
  h.checksum = {LoadBE32(&in[24]), LoadBE32(&in[28])};
  if (h.magic != kWalMagicLittleEndian && h.magic != kWalMagicBigEndian) {
    return Status::Corruption("WAL header: bad magic {:#010x}", h.magic);
  }
  if (h.version != kWalFormatVersion) {
    return Status::Corruption("WAL header: unsupported version {} (want {})", h.version,
                              kWalFormatVersion);
  }
  if (!ltx::IsValidPageSize(h.page_size)) {
    return Status::Corruption("WAL header: bad page size {}", h.page_size);
  }
  WalChecksum want = WalChecksumUpdate(h.big_endian_checksums(), in.first(24), {});
  if (want != h.checksum) {
    return Status::Corruption("WAL header: checksum {:08x}{:08x} != computed {:08x}{:08x}",
                              h.checksum.s0, h.checksum.s1, want.s0, want.s1);
  }
  return h;
}

void WalHeader::EncodeTo(std::span<uint8_t, kWalHeaderSize> out) {
  StoreBE32(&out[0], magic);
  StoreBE32(&out[4], version);
  StoreBE32(&out[8], page_size);
  StoreBE32(&out[12], checkpoint_seq);
  StoreBE32(&out[16], salt1);
  StoreBE32(&out[20], salt2);
  checksum = WalChecksumUpdate(big_endian_checksums(), std::span<const uint8_t>(out).first(24), {});
  StoreBE32(&out[24], checksum.s0);
  StoreBE32(&out[28], checksum.s1);
}

WalFrameHeader WalFrameHeader::Decode(std::span<const uint8_t, kWalFrameHeaderSize> in) {
  WalFrameHeader f;
  f.pgno = LoadBE32(&in[0]);
  f.commit = LoadBE32(&in[4]);
  f.salt1 = LoadBE32(&in[8]);
  f.salt2 = LoadBE32(&in[12]);
  f.checksum = {LoadBE32(&in[16]), LoadBE32(&in[20])};
  return f;
}

void WalFrameHeader::EncodeTo(std::span<uint8_t, kWalFrameHeaderSize> out) const {
  StoreBE32(&out[0], pgno);
  StoreBE32(&out[4], commit);
  StoreBE32(&out[8], salt1);
  StoreBE32(&out[12], salt2);
  StoreBE32(&out[16], checksum.s0);
  StoreBE32(&out[20], checksum.s1);
}

WalChecksum WalFrameChecksum(bool big_endian, WalChecksum seed,
                             std::span<const uint8_t, kWalFrameHeaderSize> frame_header,
                             std::span<const uint8_t> page) {
  // The salts are not summed: they are compared directly, and the stored
  // checksum itself obviously cannot be.
  WalChecksum c = WalChecksumUpdate(big_endian, frame_header.first(8), seed);
  return WalChecksumUpdate(big_endian, page, c);
}

}  // namespace ltxbus::producer
