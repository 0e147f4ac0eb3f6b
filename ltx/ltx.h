// The LTX file format, version 3 (magic "LTX1"), as written and read by
// superfly/ltx v0.5 and Litestream v0.5. The byte layout is documented once,
// in docs/ltx-format.md; this header holds its constants and the header type.
//
//   Header (100 B) | page frames ... | end marker (6 zero B)
//   | index: uvarint (pgno, offset, size)*, 0x00, u64 BE length
//   | PostApplyChecksum (u64 BE) | FileChecksum (u64 BE)
//
// All integers are big-endian. Encoder (ltx/encoder.h) and Decoder
// (ltx/decoder.h) are the only code that reads or writes these bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace ltxbus::ltx {

using TXID = uint64_t;
using Checksum = uint64_t;

inline constexpr size_t kHeaderSize = 100;
inline constexpr size_t kPageHeaderSize = 6;
inline constexpr size_t kPageSizeFieldSize = 4;
inline constexpr size_t kTrailerSize = 16;
inline constexpr uint8_t kMagic[4] = {'L', 'T', 'X', '1'};

// Header flag: database checksums are not tracked (both must be 0).
inline constexpr uint32_t kHeaderFlagNoChecksum = 0x2;
inline constexpr uint32_t kHeaderFlagsMask = kHeaderFlagNoChecksum;
// Page header flag: a u32 length and a raw LZ4 block follow (ltx v0.5.2+).
inline constexpr uint16_t kPageFlagSize = 0x1;

// Every stored checksum has bit 63 set, so 0 can mean "none".
inline constexpr Checksum kChecksumFlag = uint64_t{1} << 63;

inline constexpr uint32_t kMinPageSize = 512;
inline constexpr uint32_t kMaxPageSize = 65536;
inline constexpr int64_t kPendingByte = 0x40000000;

// How page data is compressed inside a page frame.
enum class PageEncoding {
  // Flags 0 and one LZ4 frame per page: written by ltx v0.4–v0.5.1
  // (Litestream v0.5.0–v0.5.15) and still read by v0.5.2 (Litestream v0.5.16).
  // The only encoding every Litestream v0.5.x reads, so it is the default.
  kLZ4Frame,
  // Flag 0x0001, a u32 length and one raw LZ4 block: written by ltx v0.5.2
  // (Litestream v0.5.16+). Smaller and faster; unreadable by v0.5.0–v0.5.15.
  kLZ4Block,
};
std::string_view PageEncodingName(PageEncoding e);
Result<PageEncoding> ParsePageEncoding(std::string_view name);  // "frame" | "block"

bool IsValidPageSize(uint32_t page_size);
// The page holding SQLite's PENDING_BYTE; never stored in LTX files.
inline uint32_t LockPgno(uint32_t page_size) {
  return static_cast<uint32_t>(kPendingByte / page_size + 1);
}

struct Header {
  uint32_t flags = kHeaderFlagNoChecksum;
  uint32_t page_size = 0;
  uint32_t commit = 0;  // database size in pages after applying this file
  TXID min_txid = 0;
  TXID max_txid = 0;
  int64_t timestamp_ms = 0;  // milliseconds since the Unix epoch
  Checksum pre_apply_checksum = 0;
  int64_t wal_offset = 0;
  int64_t wal_size = 0;
  uint32_t wal_salt1 = 0;
  uint32_t wal_salt2 = 0;
  uint64_t node_id = 0;

  // A snapshot holds every page 1..commit (minus the lock page).
  bool IsSnapshot() const { return min_txid == 1; }
  bool HasChecksums() const { return (flags & kHeaderFlagNoChecksum) == 0; }

  // The rules of docs/ltx-format.md §1.2; errors say which field is wrong.
  Status Validate() const;
  void EncodeTo(std::span<uint8_t, kHeaderSize> out) const;
  // Parses and validates 100 header bytes.
  static Result<Header> Decode(std::span<const uint8_t, kHeaderSize> in);

  bool operator==(const Header&) const = default;
};

struct Trailer {
  Checksum post_apply_checksum = 0;
  Checksum file_checksum = 0;
};

// "%016x", the form Litestream uses in file names, -txid and JSON.
std::string FormatTXID(TXID txid);
Result<TXID> ParseTXID(std::string_view hex16);
// "%016x/%016x": a position (TXID after a file, database checksum then).
std::string FormatPosition(TXID txid, Checksum checksum);
// "<min>-<max>.ltx" with 16 lowercase hex digits each.
std::string FormatFilename(TXID min_txid, TXID max_txid);
// Accepts exactly ^[0-9a-f]{16}-[0-9a-f]{16}\.ltx$.
std::optional<std::pair<TXID, TXID>> ParseFilename(std::string_view name);

}  // namespace ltxbus::ltx
