// SQLite's write-ahead log (-wal file) format, written from the format
// description in SQLite's walformat.html and fileformat2.html §4:
//
//   WAL header (32 B) | frame 1 | frame 2 | ...
//   frame = frame header (24 B) | page image (page_size B)
//
// Every integer in the file is stored big-endian. The checksums, however, are
// computed over 32-bit words in the byte order the magic selects (0x377f0682:
// little-endian words, 0x377f0683: big-endian words), so a checksum must be
// computed with the WAL's own order, not the host's.
//
// The checksum chain: the header checksum covers header bytes 0..23 seeded
// with {0, 0}; frame 1's covers its header bytes 0..7 and its page image,
// seeded with the header checksum; frame N's is seeded with frame N-1's. A
// frame is valid only if its salts equal the header's and its stored checksum
// equals the chain value, so a stale frame from an earlier use of the file or
// a torn write ends the valid WAL.
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"

namespace ltxbus::producer {

inline constexpr uint32_t kWalMagicLittleEndian = 0x377f0682;
inline constexpr uint32_t kWalMagicBigEndian = 0x377f0683;
inline constexpr uint32_t kWalFormatVersion = 3007000;
inline constexpr size_t kWalHeaderSize = 32;
inline constexpr size_t kWalFrameHeaderSize = 24;

// The running checksum pair {s0, s1}.
struct WalChecksum {
  uint32_t s0 = 0;
  uint32_t s1 = 0;
  bool operator==(const WalChecksum&) const = default;
};

// Extends `seed` over `data`, read as 32-bit words in big-endian order if
// `big_endian` and little-endian otherwise. Each pair of words (x0, x1) does
// s0 += x0 + s1; s1 += x1 + s0 (mod 2^32). data.size() must be a multiple of 8.
WalChecksum WalChecksumUpdate(bool big_endian, std::span<const uint8_t> data, WalChecksum seed);

// The 32-byte WAL header.
struct WalHeader {
  uint32_t magic = kWalMagicLittleEndian;
  uint32_t version = kWalFormatVersion;
  uint32_t page_size = 0;
  uint32_t checkpoint_seq = 0;
  uint32_t salt1 = 0;
  uint32_t salt2 = 0;
  WalChecksum checksum;  // over bytes 0..23; seeds frame 1's checksum

  // True if checksums are computed over big-endian words (magic 0x377f0683).
  bool big_endian_checksums() const { return (magic & 1) != 0; }
  // Byte offset of frame `index` (1-based) in the file.
  uint64_t FrameOffset(uint32_t index) const;
  // Bytes per frame: frame header plus one page image.
  uint64_t FrameSize() const { return kWalFrameHeaderSize + uint64_t{page_size}; }

  // Parses 32 bytes and checks the magic, version, page size (a power of two
  // in 512..65536) and the stored checksum. Every failure is Corruption naming
  // the field, because a header that is being rewritten or was never finished
  // looks exactly like that.
  static Result<WalHeader> Decode(std::span<const uint8_t, kWalHeaderSize> in);
  // Writes the header with `checksum` recomputed over bytes 0..23 (and stored
  // back into this header). For building test WALs.
  void EncodeTo(std::span<uint8_t, kWalHeaderSize> out);

  bool operator==(const WalHeader&) const = default;
};

// The 24-byte header of a frame.
struct WalFrameHeader {
  uint32_t pgno = 0;
  uint32_t commit = 0;  // database size in pages after a commit frame; 0 otherwise
  uint32_t salt1 = 0;
  uint32_t salt2 = 0;
  WalChecksum checksum;  // chain value after this frame

  bool is_commit() const { return commit != 0; }
  static WalFrameHeader Decode(std::span<const uint8_t, kWalFrameHeaderSize> in);
  void EncodeTo(std::span<uint8_t, kWalFrameHeaderSize> out) const;

  bool operator==(const WalFrameHeader&) const = default;
};

// The chain value after a frame: `seed` (the previous frame's, or the
// header's) extended over the frame header's first 8 bytes and the page image.
WalChecksum WalFrameChecksum(bool big_endian, WalChecksum seed,
                             std::span<const uint8_t, kWalFrameHeaderSize> frame_header,
                             std::span<const uint8_t> page);

}  // namespace ltxbus::producer
